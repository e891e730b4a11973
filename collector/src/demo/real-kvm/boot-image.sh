#!/bin/bash
# Boot files for tiny real guests: a Debian kernel and an initramfs whose busybox init runs the real
# Debian qemu-guest-agent, with a chosen /etc/os-release. The kernel and qemu-ga are unpacked from their
# .debs (apt-get download): nothing is installed on the host. Adapted from the handbook's
# tools/real-kvm/make-guest.sh (its measured blockers and fixes are in the comments).
#
#   boot-image.sh base  WORK_DIR BOOT_DIR            builds WORK_DIR/base.cpio.gz and BOOT_DIR/vmlinu[xz]
#   boot-image.sh guest WORK_DIR BOOT_DIR NAME OS_RELEASE_FILE AGENT(running|stopped)
#                                                     writes BOOT_DIR/NAME.initrd
set -euo pipefail
export LC_ALL=C

# Modules the guest needs (Debian builds virtio as modules), deps first; button+evdev: ACPI power button.
GUEST_MODULES="virtio_pci virtio_console virtio_net button evdev"

fetch_debs() {
  local work=$1 kpkg
  mkdir -p "$work/debs"
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$kpkg" ] || { echo "no linux-image-amd64 in apt's lists: run apt-get update" >&2; exit 1; }
  ( cd "$work/debs"
    ls "${kpkg}"_*.deb >/dev/null 2>&1 || apt-get download -q "$kpkg" >/dev/null 2>&1
    ls qemu-guest-agent_*.deb >/dev/null 2>&1 || apt-get download -q qemu-guest-agent >/dev/null 2>&1 )
  KDEB=$(ls "$work"/debs/"${kpkg}"_*.deb)
  GADEB=$(ls "$work"/debs/qemu-guest-agent_*.deb | head -1)
}

base() {
  local work=$1 boot=$2 k root stamp
  fetch_debs "$work"
  stamp="$(sha256sum "$0" | cut -c1-16) $(basename "$KDEB") $(basename "$GADEB")"
  if [ -s "$work/base.cpio.gz" ] && ls "$boot"/vmlinu[xz] >/dev/null 2>&1 && [ "$(cat "$work/base.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  k="$work/kernel"; root="$work/initramfs-root"
  rm -rf "$k" "$root"; mkdir -p "$k" "$root"
  dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$k" --wildcards './boot/vmlinuz-*' './lib/modules/*/modules.*' \
    './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/char/virtio_console.ko' \
    './lib/modules/*/kernel/drivers/net/virtio_net.ko' './lib/modules/*/kernel/drivers/net/net_failover.ko' \
    './lib/modules/*/kernel/net/core/failover.ko' './lib/modules/*/kernel/drivers/acpi/button.ko' \
    './lib/modules/*/kernel/drivers/input/evdev.ko'
  local kver m f
  kver=$(ls "$k/lib/modules")
  depmod -b "$k" "$kver"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,var,lib/modules,root}
  ln -s ../run "$root/var/run"
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
  : > "$root/etc/modules.order"
  for m in $GUEST_MODULES; do
    modprobe -d "$k" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' | while read -r f; do
      grep -qx "/lib/modules/$(basename "$f")" "$root/etc/modules.order" && continue
      cp "$f" "$root/lib/modules/"; echo "/lib/modules/$(basename "$f")" >> "$root/etc/modules.order"
    done
  done
  # qemu-ga with the host's shared libraries (the same Debian release)
  dpkg-deb --fsys-tarfile "$GADEB" | tar -x -C "$root" ./usr/sbin/qemu-ga
  for f in $(ldd "$root/usr/sbin/qemu-ga" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
    mkdir -p "$root$(dirname "$f")"; cp -L "$f" "$root$f"
  done
  [ -e "$root/lib64" ] || { mkdir -p "$root/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"; }
  # qemu-ga's guest-shutdown runs /sbin/shutdown; acpid runs PWRF on the ACPI power button (virsh shutdown)
  printf '#!/bin/sh\ncase " $* " in *" -r "*) exec reboot ;; *) exec poweroff ;; esac\n' > "$root/sbin/shutdown"
  mkdir -p "$root/etc/acpi/PWRF"; printf '#!/bin/sh\nexec poweroff\n' > "$root/etc/acpi/PWRF/00000080"
  chmod 755 "$root/sbin/shutdown" "$root/etc/acpi/PWRF/00000080"
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"; echo 'root:x:0:' > "$root/etc/group"
  # busybox init as PID 1: it reaps, respawns qemu-ga, and powers off on `poweroff`
  cat > "$root/etc/inittab" <<'EOF'
::sysinit:/etc/rcS
::respawn:/bin/sh -c '/usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 -t /run; sleep 1'
::shutdown:/bin/umount -a -r
EOF
  # No udev in the guest: rcS links /dev/virtio-ports/NAME itself (the port shows up asynchronously).
  cat > "$root/etc/rcS" <<'EOF'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
while read -r m; do insmod "$m"; done < /etc/modules.order
hostname -F /etc/hostname
acpid -l /run/acpid.log
ip link set lo up
mkdir -p /dev/virtio-ports
i=0
while [ $i -lt 100 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ -r "$p/name" ] && ln -sf "../${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
  done
  [ -e /dev/virtio-ports/org.qemu.guest_agent.0 ] && break
  ls /sys/bus/virtio/drivers/virtio_console 2>/dev/null | grep -q virtio || break
  sleep 0.1; i=$((i + 1))
done
echo "hvmap-guest: booted" > /dev/ttyS0
EOF
  chmod 755 "$root/etc/rcS"
  ln -s bin/busybox "$root/init"
  ( cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$work/base.cpio.gz"
  mkdir -p "$boot"; chmod 755 "$boot"
  # The uncompressed ELF vmlinux boots through its PVH entry: under TCG it skips 2-3 s of xz.
  local bz off
  bz=$(ls "$k"/boot/vmlinuz-*)
  off=$(grep -abo $'\xfd''7zXZ' "$bz" | head -1 | cut -d: -f1)
  rm -f "$boot/vmlinux" "$boot/vmlinuz"
  if [ -n "$off" ]; then tail -c +$((off + 1)) "$bz" | xz -dc --single-stream > "$boot/vmlinux" 2>/dev/null || true; fi
  if [ "$(head -c 4 "$boot/vmlinux" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]; then
    rm -f "$boot/vmlinux"; cp "$bz" "$boot/vmlinuz"
  fi
  chmod 644 "$boot"/vmlinu[xz]
  echo "$stamp" > "$work/base.stamp"
}

# A second archive appended to the base one: the kernel unpacks them in order, later files win.
guest() {
  local work=$1 boot=$2 name=$3 os_release=$4 agent=$5 d
  d="$work/guest-$name"
  rm -rf "$d"; mkdir -p "$d/etc"
  cp "$os_release" "$d/etc/os-release"
  echo "$name" > "$d/etc/hostname"
  [ "$agent" = running ] || grep -v qemu-ga "$work/initramfs-root/etc/inittab" > "$d/etc/inittab"
  { cat "$work/base.cpio.gz"; ( cd "$d" && find . | cpio -o -H newc --quiet | gzip -1 ); } > "$boot/$name.initrd"
  chmod 644 "$boot/$name.initrd"
}

case "${1:-}" in
  base) base "$2" "$3" ;;
  guest) guest "$2" "$3" "$4" "$5" "$6" ;;
  *) echo "usage: $0 base WORK BOOT | guest WORK BOOT NAME OS_RELEASE running|stopped" >&2; exit 2 ;;
esac
