package coordinator

import (
	"net"
	"testing"
)

func TestAdvertiseURL(t *testing.T) {
	lan := net.IPv4(192, 168, 1, 20)
	for _, c := range []struct {
		addr net.Addr
		lan  net.IP
		want string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, lan, "http://192.168.1.20:8080"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, lan, "http://192.168.1.20:8080"},
		{&net.TCPAddr{Port: 8080}, nil, "http://127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 9000}, lan, "http://10.0.0.5:9000"},
		{&net.TCPAddr{IP: net.ParseIP("fd00::1"), Port: 80}, lan, "http://[fd00::1]:80"},
		{&net.UnixAddr{Name: "/x"}, lan, ""},
	} {
		if got := advertiseURL(c.addr, c.lan); got != c.want {
			t.Errorf("advertiseURL(%v, %v) = %q, want %q", c.addr, c.lan, got, c.want)
		}
	}
	if ip := lanIPv4(); ip != nil && (ip.IsLoopback() || ip.To4() == nil) {
		t.Errorf("lanIPv4() = %v", ip)
	}
}
