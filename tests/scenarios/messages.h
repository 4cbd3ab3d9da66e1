/* The numbered messages the socket scenarios (sockets.c, inet.c) keep in flight: message k
 * of direction dir has a length and bytes of its own, so a lost, repeated, reordered or
 * damaged one is seen by its receiver. */
#ifndef CKPT_SCENARIO_MESSAGES_H
#define CKPT_SCENARIO_MESSAGES_H

#include "scenario.h"

#include <sys/socket.h>

#define IN_FLIGHT 6
#define MAX_MSG 3000

static inline size_t msg_len(unsigned dir, unsigned long k)
{
    return 1 + (k * 7919 + dir * 104729) % (MAX_MSG - 1);
}

static inline unsigned char msg_byte(unsigned dir, unsigned long k, size_t i)
{
    return (unsigned char)(k * 31 + i * 17 + dir * 101);
}

static inline void send_msg(int fd, unsigned dir, unsigned long k)
{
    unsigned char buf[MAX_MSG];
    size_t n = msg_len(dir, k);
    for (size_t i = 0; i < n; i++)
        buf[i] = msg_byte(dir, k, i);
    if (send(fd, buf, n, MSG_DONTWAIT) != (ssize_t)n)
        fail("send of message %lu (%zu bytes): %s\n", k, n, strerror(errno));
}

#endif
