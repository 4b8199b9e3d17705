/* libmodbus_poll: the reference client of BenchmarkPollVsLibmodbus. It reads the SDM630
 * measurement block (input registers 0x0000..0x004B, 76 registers, unit 1) over Modbus TCP
 * on one connection, again and again for MILLIS milliseconds, and prints the number of
 * polls and the seconds they took.
 * Build: cc -O2 libmodbus_poll.c $(pkg-config --cflags --libs libmodbus)
 * Usage: libmodbus_poll HOST PORT MILLIS */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double since(const struct timespec *a) {
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) + (b.tv_nsec - a->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s HOST PORT MILLIS\n", argv[0]);
		return 2;
	}
	double limit = strtol(argv[3], NULL, 10) / 1000.0;
	modbus_t *ctx = modbus_new_tcp(argv[1], atoi(argv[2]));
	if (ctx == NULL || modbus_set_slave(ctx, 1) == -1 || modbus_connect(ctx) == -1) {
		fprintf(stderr, "connect: %s\n", modbus_strerror(errno));
		return 1;
	}
	uint16_t regs[76];
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	long n = 0;
	double s = 0;
	do {
		if (modbus_read_input_registers(ctx, 0, 76, regs) != 76) {
			fprintf(stderr, "read: %s\n", modbus_strerror(errno));
			return 1;
		}
		n++;
		s = since(&a);
	} while (s < limit);
	printf("%ld %.6f\n", n, s);
	modbus_close(ctx);
	modbus_free(ctx);
	return 0;
}
