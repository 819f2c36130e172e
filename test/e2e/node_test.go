package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/test/localcluster"
)

// TestTheNode checks the node under the suite itself (node.Verify): the
// kubelet and containerd it claims, cluster DNS through kube-proxy, no DNS
// beyond the cluster, logs through the kubelet, one user at a time. That
// stopping it leaves nothing behind, and that it starts again, TestMain
// checks after the suite.
func TestTheNode(t *testing.T) {
	requireCluster(t)
	t.Logf("the node started (Ready with CoreDNS answering) in %s", cluster.Node.Started.Round(100*time.Millisecond))
	if err := cluster.Node.Verify(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestOnTheRealNode checks what only a real node shows: the containers'
// users and root filesystems, probes, rolling updates and cluster DNS. The
// roll, the liveness probe and DNS are checked side by side, each on its own
// object: the liveness check hangs a second dashboard ("hung"), so the DNS
// check's dashboard ("view") keeps answering and the roll's producer is
// untouched.
func TestOnTheRealNode(t *testing.T) {
	requireCluster(t)
	t.Parallel()
	ns := namespace(t, "e2e-node")
	const seed, count = 99, 1200
	applyYAML(t, pipelineYAML(ns, "steady", seed, count, 20, 1, "Delete")+"---\n"+
		dashboardYAML(ns, "view", "steady", "", 5)+"---\n"+dashboardYAML(ns, "hung", "steady", "", 5))
	eventually(t, 3*time.Minute, "ingest under way and both dashboards Ready", func() (bool, string) {
		p, d, h := getPipeline(t, ns, "steady"), getDashboard(t, ns, "view"), getDashboard(t, ns, "hung")
		n := int64(0)
		if p.Status.Collection != nil {
			n = documentCount(t, ns, "steady")
		}
		return n >= 30 && d.Status.URL != "" && h.Status.URL != "" && podsReady(t, ns) == 3,
			fmt.Sprintf("documentCount=%d; pipeline %s; dashboard %s", n, conditionSummary(p.Status.Conditions), conditionSummary(d.Status.Conditions))
	})

	// First, while every pod is settled: nothing below restarts or replaces
	// a container before this has read them all.
	t.Run("every streamdash container runs as non-root on a read-only root filesystem", func(t *testing.T) {
		checked := 0
		for _, space := range []string{localcluster.Namespace, ns} {
			var pods corev1.PodList
			if err := cluster.Client.List(context.Background(), &pods, client.InNamespace(space)); err != nil {
				t.Fatal(err)
			}
			for _, p := range pods.Items {
				for _, cs := range p.Status.ContainerStatuses {
					if p.Status.Phase != corev1.PodRunning {
						continue
					}
					pids := containerProcesses(t, strings.TrimPrefix(cs.ContainerID, "containerd://"))
					if len(pids) == 0 {
						t.Errorf("%s/%s %s: no process found on the host", space, p.Name, cs.Name)
					}
					for _, pid := range pids {
						uids, rootOptions := processIdentity(t, pid)
						if strings.Contains(" "+uids+" ", " 0 ") {
							t.Errorf("%s/%s %s: pid %d runs with uids %s", space, p.Name, cs.Name, pid, uids)
						}
						if !strings.HasPrefix(rootOptions, "ro") {
							t.Errorf("%s/%s %s: pid %d's root filesystem is mounted %s", space, p.Name, cs.Name, pid, rootOptions)
						}
					}
					checked++
				}
			}
		}
		// manager, analytics, producer, two dashboards
		if checked < 5 {
			t.Errorf("checked %d containers, want the 4 streamdash programs (5 containers)", checked)
		}
	})

	t.Run("side by side", func(t *testing.T) {
		t.Run("a changed spec rolls the producer with no lost document", func(t *testing.T) {
			t.Parallel()
			before := producerPod(t, ns)
			// Mid-ingest, or the check proves nothing.
			if n := documentCount(t, ns, "steady"); n >= count/2 {
				t.Fatalf("the roll would not be mid-ingest: %d of %d documents are in already", n, count)
			}
			applyYAML(t, pipelineYAML(ns, "steady", seed, count, 21, 1, "Delete"))
			eventually(t, 2*time.Minute, "a new producer pod", func() (bool, string) {
				p := producerPod(t, ns)
				return p != "" && p != before, "producer pod " + p
			})
			// The new pod replays the seed from its start: every document must
			// arrive; a replay may repeat some, which the distinct count ignores.
			eventually(t, 3*time.Minute, fmt.Sprintf("all %d seeded documents after the roll", count), func() (bool, string) {
				p := getPipeline(t, ns, "steady")
				_, distinct := distinctDocuments(t, p.Status.Collection.Workspace, p.Status.Collection.Name)
				return distinct == count, fmt.Sprintf("%d distinct documents", distinct)
			})
			p := getPipeline(t, ns, "steady")
			all, _ := distinctDocuments(t, p.Status.Collection.Workspace, p.Status.Collection.Name)
			t.Logf("after the roll: %d documents, %d of them repeats of the replay", all, all-count)
		})

		t.Run("the liveness probe restarts a hung dashboard", func(t *testing.T) {
			t.Parallel()
			pod, restarts, pid := dashboardProcess(t, ns, "hung")
			// SIGSTOP: the process holds its port but answers nothing, as a hung one would.
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			eventually(t, 3*time.Minute, "the kubelet to restart the hung container and the pod to be ready", func() (bool, string) {
				var p corev1.Pod
				if err := cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: pod}, &p); err != nil {
					return false, err.Error()
				}
				if len(p.Status.ContainerStatuses) == 0 {
					return false, "no container status"
				}
				cs := p.Status.ContainerStatuses[0]
				return cs.RestartCount > restarts && cs.Ready, fmt.Sprintf("restarts=%d ready=%v", cs.RestartCount, cs.Ready)
			})
		})

		t.Run("Services resolve by DNS from another pod", func(t *testing.T) {
			t.Parallel()
			for _, u := range []string{
				fmt.Sprintf("http://view-dashboard.%s.svc.cluster.local/healthz", ns),
				fmt.Sprintf("http://%s.%s.svc:8080/healthz", localcluster.AnalyticsName, localcluster.Namespace),
			} {
				out := runFetch(t, ns, u)
				if !strings.Contains(out, "200 OK") {
					t.Errorf("GET %s from a pod: %s", u, out)
				}
			}
		})
	})
}

func podsReady(t *testing.T, ns string) int {
	t.Helper()
	var pods corev1.PodList
	if err := cluster.Client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				n++
			}
		}
	}
	return n
}

// producerPod is the name of the running, ready producer pod ("" if none).
func producerPod(t *testing.T, ns string) string {
	t.Helper()
	var pods corev1.PodList
	if err := cluster.Client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if strings.Contains(p.Name, "-producer-") && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return p.Name
				}
			}
		}
	}
	return ""
}

// dashboardProcess finds the pod of the named dashboard, its restart count
// and its container's main process on the host.
func dashboardProcess(t *testing.T, ns, dashboard string) (pod string, restarts int32, pid int) {
	t.Helper()
	var pods corev1.PodList
	if err := cluster.Client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Name, dashboard+"-dashboard-") || len(p.Status.ContainerStatuses) == 0 {
			continue
		}
		cs := p.Status.ContainerStatuses[0]
		pids := containerProcesses(t, strings.TrimPrefix(cs.ContainerID, "containerd://"))
		if len(pids) == 0 {
			t.Fatalf("no process for %s", p.Name)
		}
		return p.Name, cs.RestartCount, pids[0]
	}
	t.Fatalf("no pod of dashboard %s in %s", dashboard, ns)
	return "", 0, 0
}

// containerProcesses lists the host pids of a container: those whose
// cgroup path names its id (the kubelet's cgroupfs layout).
func containerProcesses(t *testing.T, id string) []int {
	t.Helper()
	if id == "" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err == nil && strings.Contains(string(b), id) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processIdentity reads a process's real, effective, saved and filesystem
// uids and the mount options of its root filesystem.
func processIdentity(t *testing.T, pid int) (uids, rootOptions string) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") {
			uids = strings.Join(strings.Fields(strings.TrimPrefix(line, "Uid:")), " ")
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 5 && fields[4] == "/" {
			rootOptions = fields[5]
		}
	}
	return uids, rootOptions
}

// runFetch runs test/e2e/fetch in a restricted pod and returns its output.
func runFetch(t *testing.T, ns, url string) string {
	t.Helper()
	name := fmt.Sprintf("fetch-%d", time.Now().UnixNano()%1e9)
	applyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: fetch
    image: %s
    imagePullPolicy: Never
    args: [%q]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`, name, ns, fetchImage, url))
	var phase corev1.PodPhase
	eventually(t, time.Minute, "the fetch pod to finish", func() (bool, string) {
		var p corev1.Pod
		if err := cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			return false, err.Error()
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, string(phase)
	})
	out := kubectl(t, "logs", "-n", ns, name)
	kubectl(t, "delete", "pod", "-n", ns, name, "--wait=false")
	return fmt.Sprintf("%s: %s", phase, out)
}
