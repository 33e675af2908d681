/*
 * A Kafka-protocol broker for tests: librdkafka's mock cluster (rdkafka_mock.h, from
 * librdkafka-dev), hosted until stdin closes or SIGTERM. Its brokers listen on 127.0.0.1
 * (random ports) and advertise that address. Prints one line when ready:
 *   {"bootstrap":"127.0.0.1:PORT[,...]"}
 * Usage: kafka-mock-broker [-b BROKERS] [-t TOPIC[:PARTITIONS]]...
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  int brokers = 1;
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The hosting handle never connects anywhere; it only owns the mock cluster's thread. */
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) brokers = atoi(argv[++i]);
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == NULL) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
      char name[256];
      int partitions = 1;
      snprintf(name, sizeof name, "%s", argv[++i]);
      char *colon = strchr(name, ':');
      if (colon != NULL) {
        *colon = '\0';
        partitions = atoi(colon + 1);
      }
      rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, 1);
      if (err) {
        fprintf(stderr, "topic %s: %s\n", name, rd_kafka_err2str(err));
        return 1;
      }
    }
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  printf("{\"bootstrap\":\"%s\"}\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  char buf[256];
  while (!stop && read(0, buf, sizeof buf) > 0) {
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
