// Pool: a Java program for the multi-threaded JVM scenario. An ExecutorService of four
// threads computes a batch of tasks per step; the main thread adds their results into a
// checksum and prints it, so every line depends on every task having run exactly once.
// Usage: java -cp DIR Pool STEPS
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

public class Pool {
    public static void main(String[] args) throws Exception {
        int steps = Integer.parseInt(args[0]);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        long checksum = 0;
        for (int i = 1; i <= steps; i++) {
            List<Future<Long>> results = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                final long seed = i * 100L + t;
                results.add(pool.submit(() -> {
                    long x = seed;
                    for (int k = 0; k < 20000; k++)
                        x = x * 6364136223846793005L + 1442695040888963407L;
                    return x;
                }));
            }
            for (Future<Long> f : results)
                checksum = checksum * 31 + f.get();
            System.out.println("step " + i + " checksum " + checksum);
            Thread.sleep(20);
        }
        pool.shutdown();
        System.out.println("pool terminated: " + pool.awaitTermination(10, TimeUnit.SECONDS));
    }
}
