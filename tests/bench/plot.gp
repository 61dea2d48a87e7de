# SPDX-License-Identifier: GPL-2.0
# The bench chart: nine panels from bench.dat (medians, one row per target).
#   gnuplot -e "datafile='bench.dat'; outfile='bench.png'; runs=5; idle_n=10000" plot.gp
# Columns (run.sh's DAT_COLS): 1 target, 2 thr_1_up, 3 thr_1_down,
# 4 thr_4_up, 5 thr_4_down, 6 cpu_gb, 7 proc_ms_gb, 8 p50_us, 9 p99_us,
# 10 cps, 11 cps_sys_us, 12 cps_proc_us, 13 mix_cps, 14 mix_gbit,
# 15 mix_sys_us, 16 mix_proc_us, 17 mix_sys_s_gb, 18 mix_proc_ms_gb,
# 19 rss10k_mb, 20 kmem_kb.

if (!exists("runs")) runs = 0
if (!exists("idle_n")) idle_n = 0

set terminal pngcairo size 1600,1250 font "DejaVu Sans,10"
set output outfile
set datafile missing "NaN"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.85
set grid ytics
set xtics rotate by -30 nomirror
set key top right
set yrange [0:*]

set multiplot layout 3,3 title sprintf("passthru bench: medians of %d interleaved runs, loopback", runs)

set title "Bulk throughput (Gbit/s)"
plot datafile using 2:xtic(1) title "1 up", \
     '' using 3 title "1 down", \
     '' using 4 title "4 up", \
     '' using 5 title "4 down"

set title "Whole-system CPU per GB (s/GB, lower is better)"
plot datafile using 6:xtic(1) title "bulk" lc rgb "#c0504d", \
     '' using 17 title "mixed" lc rgb "#f79646"

set title "Proxy's own CPU per GB (ms/GB, log scale)"
set logscale y
set yrange [0.1:*]
plot datafile using ($7 > 0.1 ? $7 : 0.1):xtic(1) title "bulk" lc rgb "#9bbb59", \
     '' using ($18 > 0.1 ? $18 : 0.1) title "mixed" lc rgb "#4bacc6"
unset logscale y
set yrange [0:*]

set title "64-byte request/response latency (µs, log scale)"
set logscale y
set yrange [10:*]
plot datafile using 8:xtic(1) title "p50", \
     '' using 9 title "p99"
unset logscale y
set yrange [0:*]

set title "New connections per second (connect, hello, 64 B, close)"
plot datafile using 10:xtic(1) notitle lc rgb "#4f81bd"

set title "CPU per new connection (µs, lower is better)"
plot datafile using 11:xtic(1) title "whole system" lc rgb "#c0504d", \
     '' using 12 title "proxy" lc rgb "#9bbb59"

set title "Mixed (95 % 4 KB, 5 % 16 MiB): connections per second"
plot datafile using 13:xtic(1) notitle lc rgb "#4f81bd"

set title "Mixed: CPU per connection (µs, lower is better)"
plot datafile using 15:xtic(1) title "whole system" lc rgb "#c0504d", \
     '' using 16 title "proxy" lc rgb "#9bbb59"

set title "Memory with 10k idle connections (MiB, log scale)"
set logscale y
set yrange [1:*]
plot datafile using 19:xtic(1) title "proxy RSS" lc rgb "#8064a2", \
     '' using ($20 * 10000 / 1024) title "kernel (cgroup)" lc rgb "#4bacc6"

unset multiplot
