package localkubelet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// ipPool hands out loopback addresses 127.0.x.y (x, y in 1..254), one per
// pod. It starts at a random x so that two stand-ins on one machine (the demo
// and a test run) rarely meet, and skips an address when one of the pod's
// declared ports is already taken there.
type ipPool struct {
	mu    sync.Mutex
	next  int
	inUse map[string]bool
}

const ipPoolSize = 254 * 254

func newIPPool() *ipPool {
	return &ipPool{next: rand.IntN(200) * 254, inUse: map[string]bool{}}
}

func (p *ipPool) allocate(ports []int32) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range ipPoolSize {
		n := p.next
		p.next = (p.next + 1) % ipPoolSize
		ip := fmt.Sprintf("127.0.%d.%d", n/254+1, n%254+1)
		if p.inUse[ip] || !portsFree(ip, ports) {
			continue
		}
		p.inUse[ip] = true
		return ip, nil
	}
	return "", fmt.Errorf("no free loopback address")
}

func (p *ipPool) release(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.inUse, ip)
}

func portsFree(ip string, ports []int32) bool {
	for _, port := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
