#!/usr/bin/perl
# perl grows a hash from its own seeded generator and prints, unbuffered ($| = 1), a
# fingerprint of it at every step.
use strict;
use warnings;
use Time::HiRes qw(sleep);

$| = 1;
open(my $log, '>>', 'starts.log') or die "starts.log: $!";
print $log "started\n";
close($log);
my $steps = $ARGV[0] // 100;
my $state = 12345;
my %h;
my $sum = 0;
for my $step (1 .. $steps) {
    for (1 .. 3000) {
        $state = ($state * 1103515245 + 12345) % 2147483648;
        my $key = sprintf("k%08x", $state);
        $h{$key} = ($h{$key} // 0) + $step;
        $sum = ($sum + $state) % 1000000007;
    }
    printf "step %d keys %d sum %d probe %d\n", $step, scalar(keys %h), $sum,
      $h{ sprintf("k%08x", $state) };
    sleep(0.02);
}
my $check = 0;
$check = ($check + $h{$_}) % 1000000007 for sort keys %h;
print "done: check $check\n";
exit 3;
