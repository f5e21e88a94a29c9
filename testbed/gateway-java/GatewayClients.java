// The Java twin of testbed/gateway_clients.py: a producer and a consumer
// (Apache Kafka's Java client, kafka-clients from Maven Central) whose
// configuration never changes: they know only the gateway's address, and
// `kcp gateway` moves them between clusters.
//
//   java -cp CLASSES:LIBS/* GatewayClients produce --bootstrap B --topic T
//       --log LOG [--client-id ID] [--keys 20] [--rate 200]
//   java -cp CLASSES:LIBS/* GatewayClients consume --bootstrap B --topic T
//       --group G --log LOG [--client-id ID]
//
// They write the same log as the Python clients (JSON lines: key k,
// sequence s, time t, partition p, offset o; `{"error": ...}` for every
// error the client reports to the application: a failed send, an exception
// from poll or commitSync), so `gateway_clients.py check` checks both. The
// producer is idempotent (acks=all) and writes per-key sequence numbers;
// the consumer (classic group protocol) commits synchronously after each
// batch. SIGTERM stops them cleanly (the producer flushes, the consumer
// closes). Compiled by testbed/install.sh with javac against the test
// bed's kafka-clients jar; no build tool, no other dependency.

import java.io.FileWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class GatewayClients {
    private static volatile boolean stop = false;
    private static volatile int status = 0;

    private GatewayClients() {}

    public static void main(String[] argv) throws Exception {
        if (argv.length < 1) {
            usage();
        }
        Map<String, String> args = new HashMap<>();
        for (int i = 1; i + 1 < argv.length; i += 2) {
            if (!argv[i].startsWith("--")) {
                usage();
            }
            args.put(argv[i].substring(2), argv[i + 1]);
        }
        for (String required : List.of("bootstrap", "topic", "log")) {
            if (!args.containsKey(required)) {
                usage();
            }
        }
        CountDownLatch done = new CountDownLatch(1);
        Thread main = Thread.currentThread();
        // SIGTERM: stop the loop, wait until the client is closed, and
        // exit with the client's status (the JVM would say 143).
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop = true;
            try {
                done.await();
            } catch (InterruptedException e) {
                main.interrupt();
            }
            Runtime.getRuntime().halt(status);
        }));
        try (PrintWriter log = new PrintWriter(new FileWriter(args.get("log"), true), true)) {
            switch (argv[0]) {
                case "produce" -> status = produce(args, log);
                case "consume" -> status = consume(args, log);
                default -> {
                    usage();
                    status = 2;
                }
            }
        } finally {
            done.countDown();
        }
        if (status != 0) {
            Runtime.getRuntime().halt(status);
        }
    }

    private static void usage() {
        System.err.println("usage: GatewayClients produce|consume --bootstrap B --topic T --log LOG"
                + " [--client-id ID] [--group G] [--keys N] [--rate R]");
        System.exit(2);
    }

    private static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private static synchronized void error(PrintWriter log, String what) {
        log.println("{\"error\": " + quote(what) + ", \"t\": " + now() + "}");
    }

    private static synchronized void record(PrintWriter log, String key, String value, int p, long o) {
        long s = Long.parseLong(value.substring(value.indexOf(':') + 1));
        log.println("{\"k\": " + quote(key) + ", \"s\": " + s + ", \"t\": " + now()
                + ", \"p\": " + p + ", \"o\": " + o + "}");
    }

    private static int produce(Map<String, String> args, PrintWriter log) throws InterruptedException {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap"));
        props.put(ProducerConfig.CLIENT_ID_CONFIG, args.getOrDefault("client-id", "gateway-produce"));
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        int keys = Integer.parseInt(args.getOrDefault("keys", "20"));
        long intervalNanos = (long) (1e9 / Double.parseDouble(args.getOrDefault("rate", "200")));
        String topic = args.get("topic");
        Map<String, Long> seq = new HashMap<>();
        boolean failed = false;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            long next = System.nanoTime();
            for (long i = 0; !stop; i++) {
                String key = "k" + (i % keys);
                long s = seq.merge(key, 1L, Long::sum) - 1;
                String value = key + ":" + s;
                try {
                    producer.send(new ProducerRecord<>(topic, key, value), (meta, e) -> {
                        if (e != null) {
                            error(log, "send: " + e);
                        } else {
                            record(log, key, value, meta.partition(), meta.offset());
                        }
                    });
                } catch (RuntimeException e) {
                    error(log, "send: " + e);
                    failed = true;
                    break;
                }
                next += intervalNanos;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            producer.flush();
        }
        return failed ? 1 : 0;
    }

    private static int consume(Map<String, String> args, PrintWriter log) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap"));
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, args.getOrDefault("client-id", "gateway-consume"));
        props.put(ConsumerConfig.GROUP_ID_CONFIG, args.get("group"));
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(args.get("topic")));
            while (!stop) {
                ConsumerRecords<String, String> batch;
                try {
                    batch = consumer.poll(Duration.ofMillis(200));
                } catch (WakeupException e) {
                    break;
                } catch (RuntimeException e) {
                    error(log, "poll: " + e);
                    continue;
                }
                for (ConsumerRecord<String, String> r : batch) {
                    record(log, r.key(), r.value(), r.partition(), r.offset());
                }
                if (!batch.isEmpty()) {
                    try {
                        consumer.commitSync();
                    } catch (RuntimeException e) {
                        error(log, "commit: " + e);
                    }
                }
            }
        }
        return 0;
    }
}
