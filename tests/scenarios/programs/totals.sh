#!/bin/bash
# bash reads its standard input (a regular file) line by line, keeping totals in plain
# variables and an associative array, and prints progress every 2000 lines.
set -u
if [[ ${1:-} == --prepare ]]; then # the input: 200000 lines "WORD NUMBER"
    seq 1 200000 | awk '{ print "w" ($1 * 7919 % 613), $1 * 13 % 1000 }' >input.txt
    exit
fi
echo started >>starts.log
declare -A per_word=()
lines=0
sum=0
longest=
while IFS=' ' read -r word number; do
    lines=$((lines + 1))
    sum=$(((sum + number * lines) % 1000000007))
    per_word[$word]=$((${per_word[$word]:-0} + number))
    [[ ${#word} -gt ${#longest} ]] && longest=$word
    if ((lines % 2000 == 0)); then
        echo "line $lines sum $sum words ${#per_word[@]} longest $longest"
    fi
done
for word in $(printf '%s\n' "${!per_word[@]}" | sort | head -n 5); do
    echo "word $word total ${per_word[$word]}"
done
echo "done: $lines lines"
exit 4
