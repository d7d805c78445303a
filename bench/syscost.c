/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * bench/syscost.c: what a system call costs this machine in system CPU,
 * the floor under any proxy's CPU per query.  Three figures, each the
 * system time of getrusage() over many calls divided by the calls:
 *
 *   bare      getppid(): entering and leaving the kernel, nothing else
 *   send      a 64-byte send() on loopback TCP that wakes nobody (the
 *             peer drains later, every 64 sends: a large recv, then
 *             one that finds nothing)
 *   exchange  one side of a 64-byte ping-pong between two processes: a
 *             send that wakes the peer plus a recv that sleeps until the
 *             answer comes, per such pair of calls
 *
 *   syscost [-n CALLS]
 *
 * prints one line per figure ("syscost: bare 0.61 µs system per call").
 * Loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG 64

static double syscost_sys_seconds(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void syscost_die(const char *what)
{
	fprintf(stderr, "syscost: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A connected pair of loopback TCP sockets, Nagle off on both. */
static void syscost_pair(int *a, int *b)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int l, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0 || listen(l, 1) < 0)
		syscost_die("listen");
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		syscost_die("connect");
	*b = accept(l, NULL, NULL);
	if (*b < 0)
		syscost_die("accept");
	close(l);
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int syscost_exact(int fd, char *buf)
{
	return recv(fd, buf, MSG, MSG_WAITALL) == MSG;
}

static double syscost_bare(long n)
{
	double s0 = syscost_sys_seconds();

	for (long i = 0; i < n; i++)
		(void)getppid();
	return (syscost_sys_seconds() - s0) / n;
}

static double syscost_send(long n)
{
	char msg[MSG], drain[MSG * 64];
	int a, b;
	double s0, s;

	memset(msg, 'x', sizeof(msg));
	syscost_pair(&a, &b);
	s0 = syscost_sys_seconds();
	for (long i = 0; i < n; i++) {
		if (send(a, msg, sizeof(msg), 0) != MSG)
			syscost_die("send");
		if (i % 64 == 63)
			while (recv(b, drain, sizeof(drain), MSG_DONTWAIT) > 0)
				;
	}
	s = syscost_sys_seconds() - s0;
	close(a);
	close(b);
	/* the drains, two recvs per 64 sends, are in the figure too */
	return s / n;
}

static double syscost_exchange(long n)
{
	char msg[MSG];
	int a, b, st;
	pid_t pid;
	double s0, s;

	memset(msg, 'x', sizeof(msg));
	syscost_pair(&a, &b);
	pid = fork();
	if (pid < 0)
		syscost_die("fork");
	if (pid == 0) {
		close(a);
		for (long i = 0; i < n; i++)
			if (!syscost_exact(b, msg) || send(b, msg, MSG, 0) != MSG)
				_exit(1);
		_exit(0);
	}
	close(b);
	s0 = syscost_sys_seconds();
	for (long i = 0; i < n; i++)
		if (send(a, msg, MSG, 0) != MSG || !syscost_exact(a, msg))
			syscost_die("ping-pong");
	s = syscost_sys_seconds() - s0;
	close(a);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		syscost_die("ping-pong peer");
	return s / n;
}

int main(int argc, char **argv)
{
	long n = 200000;

	if (argc == 3 && strcmp(argv[1], "-n") == 0)
		n = atol(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: syscost [-n CALLS]\n");
		return 2;
	}
	if (n < 1000) {
		fprintf(stderr, "syscost: -n: at least 1000\n");
		return 2;
	}
	printf("syscost: bare %.2f µs system per call (getppid)\n", syscost_bare(n * 10) * 1e6);
	printf("syscost: send %.2f µs system per send (64 B, loopback TCP,"
	       " wakes nobody; a drain of the peer every 64 sends in it)\n",
	       syscost_send(n) * 1e6);
	printf("syscost: exchange %.2f µs system per send+recv pair (64 B"
	       " ping-pong: the send wakes the peer, the recv waits)\n",
	       syscost_exchange(n / 2) * 1e6);
	return 0;
}
