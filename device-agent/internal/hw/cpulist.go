package hw

// ParseCPUList parses the kernel's CPU list format ("0-3,6,8-9", as in
// Cluster.CPUs and CPU.AllowedCPUs) into sorted, distinct CPU ids. It also
// accepts space-separated lists ("0 1 2").
func ParseCPUList(s string) ([]int, error) { return parseCPUList(s) }

// FormatCPUList writes sorted CPU ids in the kernel's list format
// ("0-3,6").
func FormatCPUList(ids []int) string { return formatCPUList(ids) }
