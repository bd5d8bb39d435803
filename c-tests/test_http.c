/* The http channel through the public header: a C host configures http_output in YAML, emits
 * alerts and reads stats; a minimal HTTP/1.1 server in this file (a thread on 127.0.0.1) records
 * what it receives. Checks: Falco's JSON line as the POST body with its Content-Type, a 503
 * retried until 200, an endpoint that is down (flush and close time out, the alert is pending and
 * then counted), and configuration errors that name the key. */
#include "falco_outputs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "test_util.h"

#define MAX_REQ 16

typedef struct server {
  int fd;
  int port;
  pthread_t thread;
  pthread_mutex_t mu;
  int statuses[MAX_REQ]; /* answer of the i-th request; 0 = 200 */
  int nreq;
  char method[MAX_REQ][16];
  char path[MAX_REQ][128];
  char content_type[MAX_REQ][128];
  char body[MAX_REQ][4096];
} server;

/* Reads one request (headers, then Content-Length bytes of body) from a connection. */
static int read_request(int c, server *s, int i) {
  char buf[16384];
  size_t n = 0;
  char *end = NULL;
  while (end == NULL) {
    if (n == sizeof buf - 1) return -1;
    ssize_t got = recv(c, buf + n, sizeof buf - 1 - n, 0);
    if (got <= 0) return -1;
    n += (size_t)got;
    buf[n] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  size_t head = (size_t)(end + 4 - buf);
  size_t len = 0;
  char *cl = strcasestr(buf, "\r\nContent-Length:");
  if (cl != NULL && cl < end) len = strtoul(cl + 17, NULL, 10);
  char *ct = strcasestr(buf, "\r\nContent-Type:");
  pthread_mutex_lock(&s->mu);
  sscanf(buf, "%15s %127s", s->method[i], s->path[i]);
  if (ct != NULL && ct < end) sscanf(ct + 15, " %127[^\r]", s->content_type[i]);
  pthread_mutex_unlock(&s->mu);
  char body[4096];
  size_t have = n - head;
  if (len >= sizeof body) return -1;
  memcpy(body, buf + head, have);
  while (have < len) {
    ssize_t got = recv(c, body + have, len - have, 0);
    if (got <= 0) return -1;
    have += (size_t)got;
  }
  body[len] = '\0';
  pthread_mutex_lock(&s->mu);
  memcpy(s->body[i], body, len + 1);
  pthread_mutex_unlock(&s->mu);
  return 0;
}

static void *serve(void *arg) {
  server *s = arg;
  for (;;) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL; /* shutdown() of the listener ends the thread */
    pthread_mutex_lock(&s->mu);
    int i = s->nreq;
    pthread_mutex_unlock(&s->mu);
    if (i < MAX_REQ && read_request(c, s, i) == 0) {
      int status = s->statuses[i] ? s->statuses[i] : 200;
      char reply[128];
      int len = snprintf(reply, sizeof reply,
                         "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
      pthread_mutex_lock(&s->mu);
      s->nreq = i + 1;
      pthread_mutex_unlock(&s->mu);
      if (send(c, reply, (size_t)len, MSG_NOSIGNAL) < 0) { /* the client gave up */
      }
    }
    close(c);
  }
}

static void server_start(server *s) {
  pthread_mutex_init(&s->mu, NULL);
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
      getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
    FATAL("listen on 127.0.0.1: %s", strerror(errno));
  s->port = ntohs(a.sin_port);
  if (pthread_create(&s->thread, NULL, serve, s) != 0) FATAL("pthread_create");
}

static void server_stop(server *s) {
  shutdown(s->fd, SHUT_RDWR);
  pthread_join(s->thread, NULL);
  close(s->fd);
}

static int server_count(server *s) {
  pthread_mutex_lock(&s->mu);
  int n = s->nreq;
  pthread_mutex_unlock(&s->mu);
  return n;
}

static tu_log logs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static falco_outputs *open_yaml(const char *yaml) {
  falco_outputs_options o = {0};
  o.config_yaml = yaml;
  o.hostname = "h";
  o.log_fn = tu_log_fn;
  o.log_userdata = &logs;
  falco_outputs *out = NULL;
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&o, &out, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK) FATAL("init: %s: %s\n%s", falco_outputs_result_str(rc), err, yaml);
  return out;
}

static falco_alert seed_alert(void) {
  static const falco_field fields[] = {
      {"evt.num", "0", FALCO_FIELD_NUMBER},
      {"fd.name", "/bin/hack", FALCO_FIELD_STRING},
      {"proc.cmdline", "touch /bin/hack", FALCO_FIELD_STRING},
      {"user.name", "root", FALCO_FIELD_STRING},
  };
  static const char *const tags[] = {"filesystem", "mitre_persistence"};
  falco_alert a = {0};
  a.time_ns = 1507591916746609046ULL;
  a.priority = FALCO_PRIORITY_ERROR;
  a.rule = "Write below binary dir";
  a.source = "syscall";
  a.message = "File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)";
  a.fields = fields;
  a.fields_len = 4;
  a.tags = tags;
  a.tags_len = 2;
  return a;
}

static const char *SEED_JSON =
    "{\"hostname\":\"h\",\"output\":\"23:31:56.746609046: Error File below a known binary directory "
    "opened for writing (user=root command=touch /bin/hack file=/bin/hack)\",\"output_fields\":{"
    "\"evt.num\":0,\"evt.time\":1507591916746609046,\"fd.name\":\"/bin/hack\",\"proc.cmdline\":"
    "\"touch /bin/hack\",\"user.name\":\"root\"},\"priority\":\"Error\",\"rule\":\"Write below "
    "binary dir\",\"source\":\"syscall\",\"tags\":[\"filesystem\",\"mitre_persistence\"],\"time\":"
    "\"2017-10-09T23:31:56.746609046Z\"}";

static void test_falco_post_and_retry(void) {
  server s = {0};
  s.statuses[0] = 503; /* the first attempt fails, the retry succeeds */
  server_start(&s);
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "json_output: true\nstdout_output: {enabled: false}\n"
           "http_output: {enabled: true, url: \"http://127.0.0.1:%d/c\", retry_max_backoff_ms: 100}\n",
           s.port);
  falco_outputs *out = open_yaml(yaml);
  falco_alert a = seed_alert();
  CHECK_RC(falco_outputs_emit(out, &a), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_flush(out, 5000), FALCO_OUTPUTS_OK);
  falco_outputs_stats st;
  CHECK_RC(falco_outputs_get_stats(out, &st), FALCO_OUTPUTS_OK);
  CHECK_MSG(st.delivered == 1 && st.pending == 0 && st.failed == 0, "delivered %" PRIu64
            " pending %" PRIu64, st.delivered, st.pending);
  CHECK_RC(falco_outputs_close(out, 2000), FALCO_OUTPUTS_OK);
  CHECK(server_count(&s) == 2);
  for (int i = 0; i < 2; i++) {
    CHECK_STREQ(s.method[i], "POST");
    CHECK_STREQ(s.path[i], "/c");
    CHECK_STREQ(s.content_type[i], "application/json");
    CHECK_STREQ(s.body[i], SEED_JSON);
  }
  server_stop(&s);
}

static void test_endpoint_down(void) {
  server s = {0};
  server_start(&s);
  int port = s.port;
  server_stop(&s); /* nothing listens on the port now */
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "stdout_output: {enabled: false}\n"
           "http_output: {enabled: true, url: \"http://127.0.0.1:%d/\", retry_max_backoff_ms: 100}\n",
           port);
  falco_outputs *out = open_yaml(yaml);
  falco_alert a = seed_alert();
  CHECK_RC(falco_outputs_emit(out, &a), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_flush(out, 300), FALCO_OUTPUTS_ERR_TIMEOUT);
  falco_outputs_stats st;
  CHECK_RC(falco_outputs_get_stats(out, &st), FALCO_OUTPUTS_OK);
  CHECK(st.pending == 1 && st.delivered == 0);
  CHECK_RC(falco_outputs_close(out, 300), FALCO_OUTPUTS_ERR_TIMEOUT);
  pthread_mutex_lock(&logs.mu);
  CHECK_MSG(strstr(logs.text, "cannot deliver to http://127.0.0.1") != NULL, "%s", logs.text);
  CHECK_MSG(strstr(logs.text, "1 alerts discarded") != NULL, "%s", logs.text);
  pthread_mutex_unlock(&logs.mu);
}

static void test_config_errors_name_the_key(void) {
  const char *cases[][2] = {
      {"http_output: {enabled: true, url: \"ftp://127.0.0.1/\"}\n", "http_output.url"},
      {"http_output: {enabled: true, url: \"https://127.0.0.1/\", mtls: true, client_cert: "
       "/nonexistent/c.pem}\n",
       "http_output.client_cert"},
      {"http_output: {enabled: true, url: \"https://127.0.0.1/\", headers: {X-A: \"a\\r\\nB: b\"}}\n",
       "http_output.headers"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    falco_outputs_options o = {0};
    o.config_yaml = cases[i][0];
    o.log_fn = tu_log_fn;
    o.log_userdata = &logs;
    falco_outputs *out = (falco_outputs *)&o; /* must be reset to NULL on failure */
    char err[512] = "";
    CHECK_RC(falco_outputs_init(&o, &out, err, sizeof err), FALCO_OUTPUTS_ERR_CONFIG);
    CHECK(out == NULL);
    CHECK_MSG(strstr(err, cases[i][1]) != NULL, "errbuf \"%s\" does not name %s", err, cases[i][1]);
  }
}

int main(void) {
  setenv("TZ", "UTC", 1);
  tzset();
  test_falco_post_and_retry();
  test_endpoint_down();
  test_config_errors_name_the_key();
  return tu_finish("test_http");
}
