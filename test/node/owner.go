package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The owner file names the process that uses the node; it lives outside
// Root so that cleaning Root up never loses it. The lock file serialises
// claims, so two starts never both win.
const (
	ownerFile = "/run/streamdash-node.owner"
	lockFile  = "/run/streamdash-node.lock"
)

// owner is one line: "<pid> <start time> <unix seconds> <description>".
type owner struct {
	pid         int
	startTime   string
	since       time.Time
	description string
}

func (o owner) String() string {
	return fmt.Sprintf("%s (pid %d, since %s)", o.description, o.pid, o.since.UTC().Format("15:04:05 UTC"))
}

func readOwner() (owner, bool) {
	b, err := os.ReadFile(ownerFile)
	if err != nil {
		return owner{}, false
	}
	f := strings.SplitN(strings.TrimSpace(string(b)), " ", 4)
	if len(f) != 4 {
		return owner{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	secs, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return owner{}, false
	}
	return owner{pid: pid, startTime: f[1], since: time.Unix(secs, 0), description: f[3]}, true
}

// currentOwner returns the recorded owner and whether it still runs.
func currentOwner() (owner, bool) {
	o, ok := readOwner()
	if !ok {
		return o, false
	}
	return o, alive(o.pid) && startTime(o.pid) == o.startTime
}

func writeOwner(pid int, description string) error {
	line := fmt.Sprintf("%d %s %d %s\n", pid, startTime(pid), time.Now().Unix(), strings.ReplaceAll(description, "\n", " "))
	return os.WriteFile(ownerFile, []byte(line), 0o644)
}

// claim makes this process the node's owner. While a live owner holds the
// node it fails, or with wait it waits for ctx; a dead owner's leftovers
// are cleaned up first.
func claim(ctx context.Context, description string, wait bool) error {
	for {
		err := claimOnce(description)
		var busy *busyError
		if err == nil || !wait || !errors.As(err, &busy) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waited until %v)", err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

type busyError struct{ owner owner }

func (e *busyError) Error() string {
	return fmt.Sprintf("the node is in use by %s: only one node runs on a machine; wait for it or stop it", e.owner)
}

func claimOnce(description string) error {
	lock, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if o, alive := currentOwner(); alive {
		if o.pid == os.Getpid() {
			return fmt.Errorf("this process already runs the node")
		}
		return &busyError{owner: o}
	}
	if _, err := os.Stat(Root); err == nil {
		// A dead owner, or a node from before a reboot: clean up first.
		if err := cleanUp(nil); err != nil {
			return fmt.Errorf("cleaning up a stale node: %w", err)
		}
	}
	return writeOwner(os.Getpid(), description)
}

// HandOver leaves the node running after this process exits (hack/node
// up): its own etcd becomes the owner, until Down.
func (n *Node) HandOver(description string) error {
	pid, ok := running("etcd")
	if !ok {
		return fmt.Errorf("etcd is not running")
	}
	return writeOwner(pid, description)
}

// Status says whether a node runs, who uses it and which components are up.
func Status() string {
	o, ok := readOwner()
	if !ok {
		if _, err := os.Stat(Root); err == nil {
			return "no owner, but " + Root + " exists: leftovers of a node (hack/node down removes them)"
		}
		return "no node"
	}
	var up []string
	for _, c := range []string{"etcd", "containerd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if _, ok := running(c); ok {
			up = append(up, c)
		}
	}
	_, live := currentOwner()
	state := "owner gone: a stale node (the next start cleans it up)"
	if live {
		state = "in use"
	}
	return fmt.Sprintf("%s by %s; running: %s", state, o, strings.Join(up, ", "))
}
