# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers of the routing suites (tests/integration/test_routing*.sh), on top
# of common.sh: certificates, TLS / HTTP / SSH / PROXY-protocol-aware
# servers from Debian (openssl s_server, nginx, haproxy, sshd), and the
# CPU time of passthru to the nanosecond.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TRICKLE=$OUTPUT/tests/trickle

# mkcert CN: a self-signed certificate $T/certs/CN.{crt,key}, made once.
mkcert() {
	mkdir -p "$T/certs"
	[ -s "$T/certs/$1.crt" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$T/certs/$1.key" -out "$T/certs/$1.crt" -subj "/CN=$1" -days 2 \
		>"$T/certs/$1.log" 2>&1
}

# s_server NAME PORT CN [ARGS...]: openssl s_server for one connection,
# output in $D/NAME.out, stdin kept open; waits until it listens.
s_server() {
	local name=$1 port=$2 cn=$3
	shift 3
	mkcert "$cn" || return 1
	openssl s_server -accept "127.0.0.1:$port" -naccept 1 -cert "$T/certs/$cn.crt" \
		-key "$T/certs/$cn.key" "$@" >"$D/$name.out" 2>&1 < <(sleep 30) &
	wait_port 127.0.0.1 "$port" 5
}

# s_client OUT PORT [ARGS...]: openssl s_client to passthru (-connect given),
# sending one line; output in OUT.
s_client() {
	local out=$1 port=$2
	shift 2
	printf 'hello-through-passthru\n' |
		timeout 15 openssl s_client -connect "127.0.0.1:$port" "$@" >"$out" 2>&1
}

# nginx_run NAME BODY: nginx in the foreground (one process) with BODY as
# its http{} (and, if BODY has "stream {", as given at the top level);
# logs in $D/NAME.*; waits for every "listen" port in BODY.
nginx_run() {
	local name=$1 body=$2 p stream=
	case $body in *"stream {"*) stream="load_module /usr/lib/nginx/modules/ngx_stream_module.so;" ;; esac
	mkdir -p "$D/$name.tmp"
	cat >"$D/$name.conf" <<-EOF
	$stream
	daemon off;
	master_process off;
	worker_processes 1;
	pid $D/$name.pid;
	error_log $D/$name.err info;
	events { worker_connections 256; }
	$body
	EOF
	# tmp paths for the http module, if it is used
	sed -i "s|^http {|http {\n client_body_temp_path $D/$name.tmp/b; proxy_temp_path $D/$name.tmp/p;\n fastcgi_temp_path $D/$name.tmp/f; uwsgi_temp_path $D/$name.tmp/u; scgi_temp_path $D/$name.tmp/s;\n access_log off;|" "$D/$name.conf"
	nginx -c "$D/$name.conf" >"$D/$name.out" 2>&1 &
	for p in $(grep -oE 'listen +[^ ;]*' "$D/$name.conf" | grep -oE '[0-9]+$'); do
		wait_port 127.0.0.1 "$p" 5 || { echo "# nginx $name: $(tail -n 3 "$D/$name.err" "$D/$name.out")"; return 1; }
	done
}

# haproxy_run NAME CONFIG_BODY: haproxy -db with a minimal global section;
# waits for every "bind" port.
haproxy_run() {
	local name=$1 p
	cat >"$D/$name.cfg" <<-EOF
	global
	  maxconn 100
	defaults
	  timeout connect 5s
	  timeout client 30s
	  timeout server 30s
	$2
	EOF
	haproxy -db -f "$D/$name.cfg" >"$D/$name.out" 2>&1 &
	for p in $(grep -oE 'bind +[^ ]*' "$D/$name.cfg" | grep -oE '[0-9]+$'); do
		wait_port 127.0.0.1 "$p" 5 || { echo "# haproxy $name: $(tail -n 3 "$D/$name.out")"; return 1; }
	done
}

# sshd_start PORT: sshd for root with a fresh key pair; the client key is
# $D/user_key.  Log in $D/sshd.log.
sshd_start() {
	local sp=$1
	ssh-keygen -q -t ed25519 -N '' -f "$D/host_key" &&
		ssh-keygen -q -t ed25519 -N '' -f "$D/user_key" || return 1
	cp "$D/user_key.pub" "$D/authorized_keys"
	cat >"$D/sshd_config" <<-EOF
	Port $sp
	ListenAddress 127.0.0.1
	HostKey $D/host_key
	AuthorizedKeysFile $D/authorized_keys
	PidFile none
	UsePAM no
	StrictModes no
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	AllowTcpForwarding yes
	LogLevel VERBOSE
	EOF
	mkdir -p /run/sshd
	/usr/sbin/sshd -D -e -f "$D/sshd_config" 2>"$D/sshd.log" &
	wait_port 127.0.0.1 "$sp" 5
}

# ssh_opts: what every ssh of these tests uses.
ssh_opts() {
	echo "-F /dev/null -i $D/user_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR"
}

# cpu_ns PID: CPU time of every thread of PID so far, in nanoseconds
# (schedstat: finer than the 10 ms ticks of /proc/PID/stat).
cpu_ns() {
	local f sum=0 v
	for f in /proc/"$1"/task/*/schedstat; do
		read -r v _ <"$f" 2>/dev/null || continue
		sum=$((sum + v))
	done
	echo "$sum"
}

# conn_lines: the conn log lines of passthru so far.
conn_lines() { grep -E '(^| )conn client=' "$PT_LOG"; }
