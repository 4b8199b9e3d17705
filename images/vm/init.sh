#!/bin/busybox sh
# /init of chargegate's test machine (package images/vm). Lines starting "vm: " on the console
# are read by the host: "vm: init", "vm: mounted", "vm: gateway" each carry the guest's uptime.
/bin/busybox --install -s /bin
export PATH=/bin LD_LIBRARY_PATH=/lib HOME=/tmp
mkdir -p /proc /sys /dev /tmp /run /data
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
up() { cut -d' ' -f1 /proc/uptime; }
echo "vm: init $(up)"
for m in $(cat /etc/vm/modules); do insmod "/lib/modules/$m" || echo "vm: insmod $m failed"; done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
	# QEMU's user network; the host reaches the local API through a forwarded loopback port.
	ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up
fi
# data=ordered is ext4's default, named here because the power-cut results depend on it.
if ! mount -t ext4 -o data=ordered /dev/vda /data; then
	echo "vm: mount failed"
	poweroff -f
fi
echo "vm: mounted $(up)"
metersim --model sdm630 --listen tcp://127.0.0.1:1502 --control 127.0.0.1:1580 >/tmp/metersim.json 2>/tmp/metersim.log &
n=0
while [ ! -s /tmp/metersim.json ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
echo "vm: gateway $(up)"
if [ -e /bin/chargegate-launch ]; then
	# App-only update slots on the data disk. A clean exit is the update agent asking for the
	# new slot: the box's service manager would restart the launcher; this machine reboots.
	CHARGEGATE_SLOTS=/data/slots chargegate-launch run -config /etc/vm/chargegate.yaml 2>&1
	echo "vm: gateway exited $?"
	echo "vm: reboot"
	reboot -f
elif [ -e /lib/vm-preload.so ]; then
	LD_PRELOAD=/lib/vm-preload.so chargegate run -config /etc/vm/chargegate.yaml 2>&1
else
	chargegate run -config /etc/vm/chargegate.yaml 2>&1
fi
echo "vm: gateway exited $?"
poweroff -f
