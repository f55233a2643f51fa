/*
 * kafka_common.c - what the producer, the consumer and the admin share (kafka_internal.h): the
 * conf every rd_kafka_t starts from, with librdkafka's log and error callbacks going to our
 * logger, the client authentication (kafka_auth.h), the errno mapping and signal blocking for the
 * threads started here.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka_auth.h"
#include "common/log.h"
#include "kafka_internal.h"

static void kafka__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl = level <= 3   ? LOG_ERROR
                         : level == 4 ? LOG_WARN
                         : level <= 6 ? LOG_INFO
                                      : LOG_DEBUG;

    log_msg(lvl, "kafka '%s' %s: %s", rd_kafka_name(rk), fac, buf);
}

static void kafka__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char fatal[256];

    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        log_errorx("kafka '%s' fatal error: %s", rd_kafka_name(rk), fatal);
        return;
    }
    log_warnx("kafka '%s' error %s: %s", rd_kafka_name(rk),
              rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

int kafka__conf_set(rd_kafka_conf_t *conf, const char *const *kv, char *errbuf, size_t errlen)
{
    for (; kv[0]; kv += 2) {
        if (!kv[1])
            continue; /* optional setting left unset */
        if (rd_kafka_conf_set(conf, kv[0], kv[1], errbuf, errlen) != RD_KAFKA_CONF_OK)
            return -EINVAL;
    }
    return 0;
}

rd_kafka_conf_t *kafka__conf_new(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (!conf)
        return NULL;
    rd_kafka_conf_set_log_cb(conf, kafka__log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka__error_cb);
    return conf;
}

int kafka__errno(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return -ETIMEDOUT;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return -ENOENT;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return -ENOBUFS;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        return -EMSGSIZE;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        return -EACCES;
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
        return -EBADMSG;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return -EINVAL;
    default:
        return -EIO;
    }
}

void kafka__block_signals(void)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

bool kafka_auth_sasl(const struct kafka_auth *auth)
{
    return auth && auth->security_protocol && strncasecmp(auth->security_protocol, "SASL_", 5) == 0;
}

int kafka_auth_apply(rd_kafka_conf_t *conf, const struct kafka_auth *auth, char *errbuf,
                     size_t errlen)
{
    if (!auth || !auth->security_protocol)
        return 0;
    {
        /* clang-format off */
        const char *const kv[] = {
            "security.protocol", auth->security_protocol,
            "sasl.mechanisms", kafka_auth_sasl(auth) ? (auth->sasl_mechanism
                                   ? auth->sasl_mechanism : KAFKA_AUTH_DEFAULT_MECHANISM) : NULL,
            "sasl.username", kafka_auth_sasl(auth) ? auth->sasl_username : NULL,
            "sasl.password", kafka_auth_sasl(auth) ? auth->sasl_password : NULL,
            NULL,
        };
        /* clang-format on */

        return kafka__conf_set(conf, kv, errbuf, errlen);
    }
}
