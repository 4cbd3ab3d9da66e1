// node with a worker_threads worker and timers (libuv's event loop: epoll, eventfd, its own
// pipes): the worker computes a running checksum on a 50 ms timer and posts it; the main
// thread prints every one. Checkpointed, killed and restored, the printed sums are those of
// an uninterrupted run. Usage: node worker.js [STEPS]
const { Worker, isMainThread, parentPort } = require('worker_threads');
const steps = Number(process.argv[2] || 40);
if (isMainThread) {
  const worker = new Worker(__filename, { argv: [String(steps)] });
  let step = 0;
  worker.on('message', (sum) => {
    step++;
    console.log(`step ${step} sum ${sum}`);
    if (step >= steps) worker.terminate();
  });
} else {
  let sum = 0;
  let round = 0;
  setInterval(() => {
    for (let k = 0; k < 1000; k++) sum = (sum * 31 + k + round) % 1000003;
    round++;
    parentPort.postMessage(sum);
  }, 50);
}
