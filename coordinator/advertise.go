package coordinator

import (
	"net"
	"strconv"
)

// advertiseURL is the HTTP URL devices are told to use when HIL_ADVERTISE
// is not set: the listen address, except that a wildcard listen address
// becomes lan (this machine's LAN address, when it has one), because a
// phone cannot reach the coordinator as 127.0.0.1 or as the host name a
// browser on the same machine happens to use.
func advertiseURL(addr net.Addr, lan net.IP) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return ""
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = lan
		if ip == nil {
			ip = net.IPv4(127, 0, 0, 1)
		}
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// lanIPv4 returns the first private (RFC 1918) IPv4 address of an up,
// non-loopback interface, else the first global unicast IPv4 address, or
// nil.
func lanIPv4() net.IP {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var global net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil {
				continue
			}
			ip := n.IP.To4()
			if ip.IsPrivate() {
				return ip
			}
			if global == nil && ip.IsGlobalUnicast() {
				global = ip
			}
		}
	}
	return global
}
