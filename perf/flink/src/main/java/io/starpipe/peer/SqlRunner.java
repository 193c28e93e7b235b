package io.starpipe.peer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;

/**
 * Runs a Flink SQL file in-process on a local MiniCluster (no flink-dist needed).
 *
 * <pre>
 * java ... io.starpipe.peer.SqlRunner FILE.sql [--parallelism N] [--checkpoint-ms MS] [--conf KEY=VALUE]...
 *     [--explain PLAN.txt]
 * </pre>
 *
 * {@code SET 'key' = 'value'} sets an option of the job, as the SQL client does (table options and
 * pipeline options such as {@code pipeline.object-reuse} alike: SETs are read before the
 * environment is made, and {@code --conf} overrides them); every other statement except INSERT
 * runs at once
 * ({@code CREATE TABLE ...}); all INSERT statements go
 * into ONE StatementSet, i.e. one job. The runner waits for the job to finish (the sources must be
 * bounded, e.g. Kafka with {@code 'scan.bounded.mode' = 'latest-offset'}) and exits 0; on any
 * failure it prints the cause chain and exits 1 (2 for usage / file errors). {@code --explain}
 * writes the StatementSet's plan (EXPLAIN) to a file before the job runs, e.g. to show how many
 * times the source is scanned.
 *
 * Environment: FLINK_PARALLELISM (default 2), FLINK_CHECKPOINT_MS (default 0 = no checkpoints).
 */
public final class SqlRunner {

    public static void main(String[] args) {
        int code;
        try {
            code = run(args);
        } catch (UsageException e) {
            System.err.println("SqlRunner: " + e.getMessage());
            code = 2;
        } catch (Throwable t) {
            System.err.println("SqlRunner: FAILED: " + describe(t));
            System.err.println("SqlRunner: root cause stack trace:");
            rootCause(t).printStackTrace(System.err);
            code = 1;
        }
        System.err.flush();
        System.out.flush();
        // MiniCluster / connector threads may linger; the job is done (or failed) at this point.
        Runtime.getRuntime().halt(code);
    }

    private static int run(String[] args) throws Exception {
        String file = null;
        int parallelism = intEnv("FLINK_PARALLELISM", 2);
        long checkpointMs = intEnv("FLINK_CHECKPOINT_MS", 0);
        String explain = null;
        // --conf options; applied after the file's SETs, so the command line wins.
        Configuration cli = new Configuration();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--parallelism":
                    parallelism = parseInt(a, next(args, ++i, a));
                    break;
                case "--checkpoint-ms":
                    checkpointMs = parseInt(a, next(args, ++i, a));
                    break;
                case "--explain":
                    explain = next(args, ++i, a);
                    break;
                case "--conf": {
                    String kv = next(args, ++i, a);
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        throw new UsageException("--conf needs KEY=VALUE, got " + kv);
                    }
                    cli.setString(kv.substring(0, eq), kv.substring(eq + 1));
                    break;
                }
                default:
                    if (a.startsWith("--") || file != null) {
                        throw new UsageException("usage: SqlRunner FILE.sql [--parallelism N] "
                                + "[--checkpoint-ms MS] [--conf KEY=VALUE]... [--explain PLAN.txt]");
                    }
                    file = a;
            }
        }
        if (file == null) {
            throw new UsageException("usage: SqlRunner FILE.sql [--parallelism N] "
                    + "[--checkpoint-ms MS] [--conf KEY=VALUE]... [--explain PLAN.txt]");
        }
        if (parallelism < 1) {
            throw new UsageException("parallelism must be >= 1");
        }
        String text;
        try {
            text = new String(Files.readAllBytes(Path.of(file)), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new UsageException("cannot read " + file + ": " + e);
        }
        List<String> statements = splitStatements(text);
        if (statements.isEmpty()) {
            throw new UsageException(file + ": no SQL statements");
        }

        Configuration conf = new Configuration();
        for (String s : statements) {
            Matcher m = SET.matcher(s);
            if (m.matches()) {
                conf.setString(unquote(m.group(1)), unquote(m.group(2)));
            }
        }
        conf.addAll(cli);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
        if (checkpointMs > 0) {
            env.enableCheckpointing(checkpointMs);
        }
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(
                env, EnvironmentSettings.newInstance().inStreamingMode().build());

        StatementSet set = tEnv.createStatementSet();
        int inserts = 0;
        for (String s : statements) {
            Matcher m = SET.matcher(s);
            if (m.matches()) {
                tEnv.getConfig().getConfiguration().setString(unquote(m.group(1)), unquote(m.group(2)));
            } else if (firstWord(s).equals("INSERT")) {
                set.addInsertSql(s);
                inserts++;
            } else {
                tEnv.executeSql(s);
            }
        }
        if (inserts == 0) {
            System.err.println("SqlRunner: " + file + ": no INSERT statements; nothing to run");
            return 0;
        }
        System.err.printf("SqlRunner: %d statements, %d INSERTs in one job, parallelism %d%s%n",
                statements.size(), inserts, parallelism,
                checkpointMs > 0 ? ", checkpoints every " + checkpointMs + " ms" : "");
        if (explain != null) {
            Files.write(Path.of(explain), set.explain().getBytes(StandardCharsets.UTF_8));
        }
        long t0 = System.nanoTime();
        TableResult result = set.execute();
        JobClient job = result.getJobClient()
                .orElseThrow(() -> new IllegalStateException("the StatementSet produced no job"));
        JobExecutionResult done = job.getJobExecutionResult().get();
        System.err.printf("SqlRunner: job %s FINISHED in %.2f s (net runtime %d ms)%n",
                job.getJobID(), (System.nanoTime() - t0) / 1e9, done.getNetRuntime());
        return 0;
    }

    /** {@code SET 'key' = 'value'} (as in the SQL client): a table configuration option. */
    private static final Pattern SET =
            Pattern.compile("(?is)SET\\s+('(?:[^']|'')*')\\s*=\\s*('(?:[^']|'')*')");

    private static String unquote(String quoted) {
        return quoted.substring(1, quoted.length() - 1).replace("''", "'");
    }

    /** Splits on ';' outside quotes ('...', "...", `...`) and comments (--, /* *&#47;). */
    static List<String> splitStatements(String sql) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        int n = sql.length();
        for (int i = 0; i < n; i++) {
            char c = sql.charAt(i);
            if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                while (i < n && sql.charAt(i) != '\n') {
                    i++;
                }
                cur.append('\n');
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                int end = sql.indexOf("*/", i + 2);
                i = end < 0 ? n : end + 1;
                cur.append(' ');
            } else if (c == '\'' || c == '"' || c == '`') {
                cur.append(c);
                i++;
                while (i < n) {
                    char d = sql.charAt(i);
                    cur.append(d);
                    if (d == c) {
                        if (i + 1 < n && sql.charAt(i + 1) == c) { // doubled quote = escaped
                            cur.append(c);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i++;
                }
            } else if (c == ';') {
                add(out, cur);
            } else {
                cur.append(c);
            }
        }
        add(out, cur);
        return out;
    }

    private static void add(List<String> out, StringBuilder cur) {
        String s = cur.toString().trim();
        if (!s.isEmpty()) {
            out.add(s);
        }
        cur.setLength(0);
    }

    private static String firstWord(String s) {
        int i = 0;
        while (i < s.length() && Character.isLetter(s.charAt(i))) {
            i++;
        }
        return s.substring(0, i).toUpperCase(Locale.ROOT);
    }

    private static String describe(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (b.length() > 0) {
                b.append("\n  caused by: ");
            }
            b.append(c.getClass().getName()).append(": ").append(c.getMessage());
        }
        return b.toString();
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    private static String next(String[] args, int i, String flag) throws UsageException {
        if (i >= args.length) {
            throw new UsageException(flag + " needs a value");
        }
        return args[i];
    }

    private static int parseInt(String what, String v) throws UsageException {
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(what + ": not a number: " + v);
        }
    }

    private static int intEnv(String name, int dflt) throws UsageException {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? dflt : parseInt(name, v);
    }

    private static final class UsageException extends Exception {
        UsageException(String m) {
            super(m);
        }
    }
}
