# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/seed-table.awk: the seed page's table (cpu.sh, seed-loops.sh), from
# one line per round and target:
#
#   TARGET COM_SELECT SERVER_PID PROXY_PIDS LOOKUPS_LINE
#
# COM_SELECT is the round's Com_select delta (logins included); PROXY_PIDS
# is - (no proxy) or PID[,PID]...: the proxy processes the page went
# through; LOOKUPS_LINE is what bench/lookups printed with --count-port and
# a --cpu-pid for the server and each proxy (seconds=, page_com_select=,
# client_cpu_us=, cpu_us_PID=).
#
#   awk -v n=LOOKUPS -v ncpu=CPUS -f seed-table.awk FILE
#
# Prints per target, in the order they first appear, each column's median
# over the rounds (each its own median): page ms, the Com_selects, CPU per
# lookup of client, proxy (all its processes) and server, CPUs busy (their
# CPU time over the page time), and direct's page time over this one's.
# "full-CPU ms" is the page this CPU would take if it kept every CPU busy (CPU
# per lookup times lookups, over CPUS); "direct/full-CPU" is direct's measured
# page over that: the most fewer waits could give at this CPU per lookup.
# A line without one of those fields is an error (exit 1).  Below the
# table, a line that says what its columns are.

function median(k, f,    i, j, m, a, t)
{
	m = rounds[k]
	for (i = 1; i <= m; i++)
		a[i] = v[k, f, i] + 0
	for (i = 2; i <= m; i++)	# insertion sort: a few rounds
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}

# a count's median: whole, or halfway between two (not "%.6g": 1.2e+06)
function count(k, f,    x)
{
	x = median(k, f)
	return x == int(x) ? sprintf("%d", x) : sprintf("%.1f", x)
}

# direct's page over this one's, or n/a
function ratio(d, x)
{
	return (d != "" && x > 0) ? sprintf("%.2f", d / x) : "n/a"
}

# the value of NAME= in this line, or "" (fields from the 5th on)
function field(name,    i)
{
	for (i = 5; i <= NF; i++)
		if (index($i, name "=") == 1)
			return substr($i, length(name) + 2)
	return ""
}

function need(x, what)
{
	if (x == "") {
		printf "seed-table: %s: no %s= in: %s\n", $1, what, $0 > "/dev/stderr"
		bad = 1
		exit 1
	}
	return x
}

/^#/ || NF == 0 {
	next
}

NF < 5 {
	printf "seed-table: %s: no page in: %s\n", $1, $0 > "/dev/stderr"
	bad = 1
	exit 1
}

{
	k = $1
	if (!(k in rounds))
		order[++nt] = k
	r = ++rounds[k]
	secs = need(field("seconds"), "seconds")
	cl = need(field("client_cpu_us"), "client_cpu_us")
	sv = need(field("cpu_us_" $3), "cpu_us_" $3)
	px = 0
	if ($4 == "-")
		noproxy[k] = 1
	else
		for (j = split($4, pp, ","); j > 0; j--)
			px += need(field("cpu_us_" pp[j]), "cpu_us_" pp[j])
	cpu = cl + px + sv
	v[k, "ms", r] = secs * 1000
	v[k, "sel", r] = $2
	v[k, "page", r] = need(field("page_com_select"), "page_com_select")
	v[k, "cl", r] = cl / n
	v[k, "px", r] = px / n
	v[k, "sv", r] = sv / n
	v[k, "busy", r] = secs > 0 ? cpu / (secs * 1e6) : 0
	v[k, "full", r] = cpu / ncpu / 1000
}

END {
	if (bad)
		exit 1
	fmt = "%-13s %8s %10s %7s %8s %8s %8s %6s %7s %8s %8s\n"
	printf fmt, "target", "page ms", "Com_select", "page's", "client",
	       "proxy", "server", "CPUs", "direct/", "full-CPU", "direct/"
	printf fmt, "", "", "", "", "µs/look", "µs/look", "µs/look", "busy",
	       "this", "ms", "full-CPU"
	d = ("direct" in rounds) ? median("direct", "ms") : ""
	for (i = 1; i <= nt; i++) {
		k = order[i]
		ms = median(k, "ms")
		full = median(k, "full")
		printf fmt, k, sprintf("%.2f", ms), count(k, "sel"),
		       count(k, "page"), sprintf("%.1f", median(k, "cl")),
		       k in noproxy ? "-" : sprintf("%.1f", median(k, "px")),
		       sprintf("%.1f", median(k, "sv")),
		       sprintf("%.2f", median(k, "busy")), ratio(d, ms),
		       sprintf("%.2f", full), ratio(d, full)
	}
	printf "(Com_select: all of a round's, logins included; the page's," \
	       " and the CPU per lookup of the client (bench/lookups), the" \
	       " proxy (all its processes) and the server: from the clock's" \
	       " start to its stop; CPUs busy: their CPU time over the page" \
	       " time, of %d; full-CPU ms: the page at that CPU with every" \
	       " CPU busy)\n", ncpu
}
