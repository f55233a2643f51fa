/*
 * mock-kafka.c - a one-broker Kafka stand-in for machines without a JDK: librdkafka's mock
 * cluster in its own process, so the test harness can start, stop and "restart" it.
 *
 * usage: mock-kafka [BOOTSTRAP_FILE [TOPIC[:PARTITIONS]]...]
 *   Prints the bootstrap servers ("127.0.0.1:PORT") as one line on stdout and, when given,
 *   writes the same line to BOOTSTRAP_FILE (atomically, via a rename), then creates each
 *   TOPIC (default 3 partitions) and waits for signals:
 *     SIGUSR1  the broker goes down (connections closed, new ones refused; port kept)
 *     SIGUSR2  the broker comes back up
 *     SIGTERM, SIGINT  exit 0
 * Limits of the mock (librdkafka 2.0.2): no persistence, a single process lifetime; topics
 * that a client names are auto-created on metadata requests that allow it (4 partitions) and
 * CreateTopics is answered, so producers, consumers in groups and admin calls work.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOCK_BROKER_ID 1
#define MOCK_DEFAULT_PARTITIONS 3

/* Writes @line + "\n" to @path through a temporary file, so readers never see half of it. */
static int mock_write_file(const char *path, const char *line)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "%s\n", line);
    if (fclose(f) != 0)
        return -errno;
    if (rename(tmp, path) != 0)
        return -errno;
    return 0;
}

/* Creates "name[:partitions]" in @mcluster. */
static int mock_create_topic(rd_kafka_mock_cluster_t *mcluster, const char *spec)
{
    char name[256];
    int partitions = MOCK_DEFAULT_PARTITIONS;
    const char *colon = strchr(spec, ':');
    size_t len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);

    if (len == 0 || len >= sizeof(name))
        return -EINVAL;
    memcpy(name, spec, len);
    name[len] = '\0';
    if (colon != NULL) {
        partitions = atoi(colon + 1);
        if (partitions <= 0)
            return -EINVAL;
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, name, partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "mock-kafka: topic '%s': %s\n", name, rd_kafka_err2str(err));
        return -EIO;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char errstr[512];
    sigset_t set;
    int rc = 1;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: mock-kafka [BOOTSTRAP_FILE [TOPIC[:PARTITIONS]]...]\n"
               "  starts librdkafka's mock cluster, prints its bootstrap servers and waits;\n"
               "  SIGUSR1 takes the broker down, SIGUSR2 brings it back, SIGTERM/SIGINT exit\n");
        return 0;
    }

    /* block the signals before librdkafka starts threads, so only sigwait() sees them */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock-kafka: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "mock-kafka: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    conf = NULL; /* now owned by rk */

    rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, 1);
    if (mcluster == NULL) {
        fprintf(stderr, "mock-kafka: cannot create the mock cluster\n");
        goto out;
    }
    for (int i = 2; i < argc; i++) {
        if (mock_create_topic(mcluster, argv[i]) != 0) {
            fprintf(stderr, "mock-kafka: bad topic '%s'\n", argv[i]);
            goto out;
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (argc > 1) {
        int err = mock_write_file(argv[1], bootstraps);
        if (err != 0) {
            fprintf(stderr, "mock-kafka: cannot write '%s': %s\n", argv[1], strerror(-err));
            goto out;
        }
    }
    printf("%s\n", bootstraps);
    fflush(stdout);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            rd_kafka_mock_broker_set_down(mcluster, MOCK_BROKER_ID);
            fprintf(stderr, "mock-kafka: broker down\n");
        } else if (sig == SIGUSR2) {
            rd_kafka_mock_broker_set_up(mcluster, MOCK_BROKER_ID);
            fprintf(stderr, "mock-kafka: broker up\n");
        } else if (sig != SIGHUP) {
            break;
        }
    }
    rc = 0;
out:
    if (mcluster != NULL)
        rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return rc;
}
