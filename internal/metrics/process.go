package metrics

import (
	"bytes"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc on every
// architecture Go supports.
const clockTicks = 100

// RegisterProcess adds process_cpu_seconds_total and
// process_resident_memory_bytes, read from /proc/self at scrape time. On
// systems without /proc they read 0.
func (r *Registry) RegisterProcess() {
	r.CounterFunc("process_cpu_seconds_total", "User and system CPU time spent by the node, in seconds.", func() float64 {
		utime, stime, _ := ProcCPU("self")
		return float64(utime+stime) / clockTicks
	})
	r.Gauge("process_resident_memory_bytes", "Resident memory of the node, in bytes.", func() float64 {
		rss, _ := ProcRSS("self")
		return float64(rss)
	})
}

// ProcCPU returns the user and system clock ticks of a process ("self" or a
// pid) from /proc/<pid>/stat.
func ProcCPU(pid string) (utime, stime uint64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// fields after the last ')' start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, os.ErrInvalid
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, 0, os.ErrInvalid
	}
	utime, _ = strconv.ParseUint(string(f[11]), 10, 64) // field 14
	stime, _ = strconv.ParseUint(string(f[12]), 10, 64) // field 15
	return utime, stime, nil
}

// ProcRSS returns a process's resident set size in bytes from
// /proc/<pid>/status (VmRSS).
func ProcRSS(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, os.ErrNotExist
}
