/* libmodbus_poll: the reference client of BenchmarkLibmodbusSDM630TCP. It reads the SDM630
 * measurement block (input registers 0x0000..0x004B, 76 registers, unit 1) over Modbus TCP
 * COUNT times on one connection and prints the polls per second it achieved.
 * Build: cc -O2 libmodbus_poll.c $(pkg-config --cflags --libs libmodbus)
 * Usage: libmodbus_poll HOST PORT COUNT */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s HOST PORT COUNT\n", argv[0]);
		return 2;
	}
	long count = strtol(argv[3], NULL, 10);
	modbus_t *ctx = modbus_new_tcp(argv[1], atoi(argv[2]));
	if (ctx == NULL || modbus_set_slave(ctx, 1) == -1 || modbus_connect(ctx) == -1) {
		fprintf(stderr, "connect: %s\n", modbus_strerror(errno));
		return 1;
	}
	uint16_t regs[76];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < count; i++) {
		if (modbus_read_input_registers(ctx, 0, 76, regs) != 76) {
			fprintf(stderr, "read: %s\n", modbus_strerror(errno));
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.1f\n", count / s);
	modbus_close(ctx);
	modbus_free(ctx);
	return 0;
}
