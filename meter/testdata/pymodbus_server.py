"""Serve a Modbus TCP register image with pymodbus (Debian python3-pymodbus).

Usage: /usr/bin/python3 pymodbus_server.py PORT UNIT IMAGE.json

IMAGE.json: {"input": {"ADDR": VALUE, ...}, "holding": {...}} with 0-based wire addresses.
Used by meter's interop test: our client must decode a server it did not write.
"""
import json
import sys

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server import StartTcpServer


def main():
    port, unit, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    with open(path, encoding="ascii") as f:
        image = json.load(f)
    blocks = {}
    for table in ("input", "holding"):
        regs = {int(a): int(v) for a, v in image.get(table, {}).items()}
        blocks[table] = ModbusSparseDataBlock(regs or {0: 0})
    slave = ModbusSlaveContext(ir=blocks["input"], hr=blocks["holding"], zero_mode=True)
    context = ModbusServerContext(slaves={unit: slave}, single=False)
    StartTcpServer(context=context, address=("127.0.0.1", port))


if __name__ == "__main__":
    main()
