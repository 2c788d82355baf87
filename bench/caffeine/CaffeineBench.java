/* CaffeineBench.java - the peer for bench/cache's throughput section: Caffeine
 * (the JVM's best-known concurrent cache, W-TinyLFU) replaying the very key
 * stream bench/cache measures hone on, in the same run.
 *
 * bench/cache writes its Zipf(0.99) stream as raw little-endian uint32 keys,
 * compiles this file and runs it as
 *
 *   java -cp DIR:caffeine.jar CaffeineBench KEYS CAP OPS REPEATS STRIDE
 *
 * KEYS is the stream file (its length a power of two), CAP the cache's
 * maximum size in entries, OPS the operations per thread per run, REPEATS the
 * runs per configuration (the best is kept, as the C side keeps its best),
 * STRIDE the offset into the stream between threads (thread t starts at
 * t * STRIDE, as the C workers do). The workload mirrors bench/cache's
 * worker(): operation i of a thread reads key stream[(start + i) & mask];
 * with a write share of w percent, operations with i % 100 < w are puts and
 * the rest are gets.
 *
 * It prints one line per result, which bench/cache parses:
 *
 *   get <threads> <Mops/s>
 *   mixed <threads> <Mops/s>
 *   hit_rate <percent>
 *
 * Keys are boxed before any timing: one Long per distinct key, shared by
 * every occurrence in the stream, as an application holding its keys would
 * pass them. Values are one shared 16-byte array, the size the C side copies.
 * Caffeine's maintenance (draining its read and write buffers, eviction) runs
 * on the calling threads (executor(Runnable::run)) so that "1 thread" means
 * one thread of work; the default would hand it to ForkJoinPool.commonPool,
 * a core the C side does not get. */

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;

public final class CaffeineBench {
    private static final byte[] VALUE = "0123456789abcde".getBytes();

    private static Long[] stream;
    private static int mask;
    private static int ops;
    private static long stride;
    /* Hits and gets of every run after warming; the hits also keep the JIT
     * from dropping the gets as dead code. Counted here rather than with
     * Caffeine's recordStats(), which would add its counters' cost. */
    private static final AtomicLong hits = new AtomicLong(), gets = new AtomicLong();

    private CaffeineBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: CaffeineBench KEYS CAP OPS REPEATS STRIDE");
            System.exit(2);
        }
        load(args[0]);
        int cap = Integer.parseInt(args[1]);
        ops = Integer.parseInt(args[2]);
        int repeats = Integer.parseInt(args[3]);
        stride = Long.parseLong(args[4]);

        Cache<Long, byte[]> cache = Caffeine.newBuilder()
                                        .maximumSize(cap)
                                        .initialCapacity(cap)
                                        .executor(Runnable::run)
                                        .build();

        /* Warm as bench/cache warms hone: the first half of the stream,
         * a get and, on a miss, a put. This is also the JIT's warm-up for
         * both paths. */
        for (int i = 0; i < stream.length / 2; i++) {
            Long k = stream[i];
            if (cache.getIfPresent(k) == null) cache.put(k, VALUE);
        }
        cache.cleanUp();

        /* One untimed run of every configuration before any timed one, so
         * the compiled code is the steady state's when timing starts. */
        for (int w : new int[] {0, 10})
            for (int t = 1; t <= 2; t++) runOnce(cache, t, w);

        report(cache, "get", 0, repeats);
        report(cache, "mixed", 10, repeats);

        /* The hit rate of the gets of every run after warming, for
         * comparison with cache.zipf.hit_rate. */
        System.out.printf("hit_rate %.4f%n", 100.0 * hits.get() / Math.max(1, gets.get()));
    }

    private static void load(String path) throws IOException {
        byte[] raw = Files.readAllBytes(Paths.get(path));
        int n = raw.length / 4;
        if (n == 0 || (n & (n - 1)) != 0 || raw.length % 4 != 0)
            throw new IOException(path + ": " + raw.length + " bytes, not a power of two of uint32 keys");
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        Map<Integer, Long> boxes = new HashMap<>();
        stream = new Long[n];
        for (int i = 0; i < n; i++) {
            long key = b.getInt(i * 4) & 0xffffffffL;
            stream[i] = boxes.computeIfAbsent((int) key, x -> Long.valueOf(key));
        }
        mask = n - 1;
    }

    private static void report(Cache<Long, byte[]> cache, String name, int writesPct, int repeats)
            throws Exception {
        for (int t = 1; t <= 2; t++) {
            double best = 0;
            for (int r = 0; r < repeats; r++) best = Math.max(best, runOnce(cache, t, writesPct));
            System.out.printf("%s %d %.4f%n", name, t, best);
            System.out.flush();
        }
    }

    /* Runs `threads` workers started together; returns million operations
     * per second over the slowest worker's time, as bench/cache does. */
    private static double runOnce(Cache<Long, byte[]> cache, int threads, int writesPct)
            throws Exception {
        CyclicBarrier bar = new CyclicBarrier(threads);
        long[] nanos = new long[threads];
        Thread[] th = new Thread[threads];
        Throwable[] failed = new Throwable[1];
        for (int t = 0; t < threads; t++) {
            final int tid = t;
            th[t] = new Thread(() -> {
                try {
                    bar.await();
                    long t0 = System.nanoTime();
                    long h = work(cache, tid, writesPct);
                    nanos[tid] = System.nanoTime() - t0;
                    hits.addAndGet(h);
                    gets.addAndGet(ops - (long) ops / 100 * writesPct
                                   - Math.min(ops % 100, writesPct));
                } catch (Throwable e) {
                    synchronized (failed) {
                        failed[0] = e;
                    }
                }
            });
            th[t].start();
        }
        long slowest = 0;
        for (int t = 0; t < threads; t++) {
            th[t].join();
            slowest = Math.max(slowest, nanos[t]);
        }
        if (failed[0] != null) throw new RuntimeException("worker failed", failed[0]);
        return (double) ops * threads / (slowest / 1e9) / 1e6;
    }

    private static long work(Cache<Long, byte[]> cache, int tid, int writesPct) {
        final Long[] s = stream;
        final int m = mask;
        final long pos = tid * stride;
        long hits = 0;
        for (int i = 0; i < ops; i++) {
            Long key = s[(int) ((pos + i) & m)];
            if (writesPct != 0 && i % 100 < writesPct) cache.put(key, VALUE);
            else if (cache.getIfPresent(key) != null) hits++;
        }
        return hits;
    }
}
