// Steps: a Java program for the JVM scenario. It computes and prints one line per step; run
// with JFR's profile settings, the JVM suspends its threads with SIGUSR2 (HotSpot's
// SR_signum) to sample them, which under ckpt must still reach the JVM's own handler.
// Usage: java -cp DIR Steps STEPS
public class Steps {
    public static void main(String[] args) throws Exception {
        int steps = Integer.parseInt(args[0]);
        long sum = 0;
        for (int i = 1; i <= steps; i++) {
            for (int j = 0; j < 2000000; j++)
                sum += (j ^ i) % 7;
            System.out.println("step " + i + " sum " + sum);
            Thread.sleep(20);
        }
    }
}
