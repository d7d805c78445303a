# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/sched-idle.awk: where a page's idle CPU time comes from, from the
# text of `perf sched timehist` (no -w) over a system-wide recording.
#
#   awk -v name=TARGET -v proxy=PID -v server=PID -f sched-idle.awk FILE
#
# Each line that ends a task's run on a CPU gives its end time (s), CPU and
# run time (ms), and the task as COMM[TID] or COMM[TID/PID].  The proxy and
# the server are told by PID (proxy=0: none), the client by its command
# name (lookups), idle as <idle>; the rest is other.
# The page is the span of lookups' worker threads (every thread but the
# first: that one logs in before the clock starts); only its middle half
# is read, without its start and its tail.  Prints one line per question:
#
#   how the CPUs' time went: proxy, server, client, other, idle (%)
#   while a CPU idled, what the other CPUs ran, as a share of that idle
#   time: proxy, server, client, other, idle too (%)
#
# A CPU that idles while the other runs the proxy waits on the proxy's one
# thread: nothing else is runnable until it answers someone.

# COMM[TID/PID] (2: TID, PID in <id>) or COMM[TID] (1: a process's first
# thread, whose TID is its PID); 0 for neither
function ids(task, id)
{
	if (!match(task, /\[[0-9]+(\/[0-9]+)?\]$/))
		return 0
	return split(substr(task, RSTART + 1, RLENGTH - 2), id, "/")
}

function kind(task,    id, n, pid)
{
	if (task == "<idle>")
		return "idle"
	n = ids(task, id)
	pid = n ? id[n] : -1
	if (proxy && pid == proxy)
		return "proxy"
	if (pid == server)
		return "server"
	if (index(task, "lookups[") == 1)
		return "client"
	return "other"
}

BEGIN {
	split("proxy server client other idle", KINDS, " ")
}

# perf could not keep up: a run after the gap covers it
/lost [0-9]+ events/ {
	lost++
}

$2 ~ /^\[[0-9]+\]$/ && NF >= 6 && $NF ~ /^[0-9.]+$/ {
	cpu = substr($2, 2, length($2) - 2) + 0
	e = $1 * 1000
	s = e - $NF
	i = ++n[cpu]
	S[cpu, i] = s
	E[cpu, i] = e
	K[cpu, i] = kind($3)
	if (!(cpu in seen)) {
		seen[cpu] = 1
		cpus[++ncpu] = cpu
	}
	# lookups[TID/PID]: a worker thread, TID not PID
	if (K[cpu, i] == "client" && ids($3, id) == 2 && id[1] != id[2]) {
		if (first == "" || s < first)
			first = s
		if (e > last)
			last = e
	}
}

END {
	if (ncpu == 0 || first == "" || last <= first) {
		printf "%s: no page in the scheduler events\n", name
		exit 1
	}
	span = last - first
	first += span / 4
	last -= span / 4
	# every run clipped to the middle half of the page
	for (a = 1; a <= ncpu; a++) {
		c = cpus[a]
		for (i = 1; i <= n[c]; i++) {
			if (S[c, i] < first)
				S[c, i] = first
			if (E[c, i] > last)
				E[c, i] = last
		}
	}
	# how each CPU's time went
	for (a = 1; a <= ncpu; a++) {
		c = cpus[a]
		for (i = 1; i <= n[c]; i++)
			if (E[c, i] > S[c, i])
				use[K[c, i]] += E[c, i] - S[c, i]
	}
	total = 0
	for (k in use)
		total += use[k]
	line = sprintf("%-13s CPU time   (%.0f ms)", name, last - first)
	for (j = 1; j <= 5; j++)
		line = line sprintf(" %s %5.1f", KINDS[j], 100 * use[KINDS[j]] / total)
	print line
	# while a CPU idles, what the others run: each CPU's runs are in
	# order of their end, so one pointer per pair of CPUs walks forward
	for (a = 1; a <= ncpu; a++) {
		c = cpus[a]
		for (b = 1; b <= ncpu; b++) {
			o = cpus[b]
			if (o == c)
				continue
			j = 1
			for (i = 1; i <= n[c]; i++) {
				if (K[c, i] != "idle")
					continue
				while (j <= n[o] && E[o, j] <= S[c, i])
					j++
				for (m = j; m <= n[o] && S[o, m] < E[c, i]; m++) {
					lo = S[o, m] > S[c, i] ? S[o, m] : S[c, i]
					hi = E[o, m] < E[c, i] ? E[o, m] : E[c, i]
					if (hi > lo) {
						ov[K[o, m]] += hi - lo
						ovt += hi - lo
					}
				}
			}
		}
	}
	line = sprintf("%-13s idle beside          ", name)
	for (j = 1; j <= 5; j++)
		line = line sprintf(" %s %5.1f", KINDS[j],
				    ovt ? 100 * ov[KINDS[j]] / ovt : 0)
	print line
	if (lost)
		printf "%-13s perf lost events %d times: each run after a gap " \
		       "is counted over it\n", name, lost
}
