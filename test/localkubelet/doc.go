// Package localkubelet is a stand-in for the kubelet that runs Deployments as
// local processes, for the demo (hack/demo) and the end-to-end suite. It is
// test tooling: it is never built into an image or installed in a cluster.
//
// For every Deployment it watches (optionally only those matching a label
// selector) it runs spec.replicas pods, each pod one local process per
// container, exactly as the pod template says:
//
//   - command: a bare program name ("producer") runs <BinDir>/producer; a path
//     that exists runs as is; any other path runs <BinDir>/<base name>.
//     command and args get Kubernetes $(VAR) expansion ($$ escapes, unknown
//     references stay as written).
//   - env: value, valueFrom secretKeyRef / configMapKeyRef (optional honoured),
//     fieldRef (metadata.name, metadata.namespace, metadata.uid, labels and
//     annotations, spec.nodeName, spec.serviceAccountName, status.podIP(s),
//     status.hostIP(s)), resourceFieldRef (limits/requests cpu and memory;
//     an unset limit is the machine's CPU count or memory), envFrom.
//     The process does not inherit the caller's environment: it gets
//     Options.BaseEnv (PATH, and whatever the caller decides a node provides,
//     such as the credentials an instance profile would) then the container's env.
//   - volumes: secret, configMap, projected (secret, configMap, downwardAPI
//     sources), downwardAPI, emptyDir and hostPath. Each is materialised once,
//     when the pod starts, as files under the pod's own directory
//     (<WorkDir>/<namespace>_<pod>/volumes/<volume>). A process cannot see
//     the container's mountPath (there is no mount namespace), so every
//     occurrence of a mountPath (at a path boundary) in command, args,
//     workingDir and plain `value` env vars is rewritten to the local
//     directory: `--api-key-file /etc/streamdash/apikey/apikey` becomes
//     `--api-key-file <pod dir>/volumes/apikey/apikey`. Values read from
//     Secrets and ConfigMaps are data and are never rewritten.
//   - network: each pod gets its own loopback address 127.0.x.y as its pod IP
//     (status.podIP), so two pods listen on the same port side by side.
//     Linux routes all of 127/8 to the loopback device without setup.
//
// Readiness follows the readinessProbe (httpGet with named ports resolved
// from the container's ports, tcpSocket, exec), polled every
// Options.ProbeInterval rather than periodSeconds so tests do not wait; a
// container without a probe is ready once started. The Deployment's status
// (observedGeneration, replicas, updatedReplicas, readyReplicas,
// availableReplicas, conditions Available and Progressing) is written from
// what the processes really do: a pod counts as ready only while every
// probe answers.
//
// A process that exits is restarted with an exponential backoff
// (CrashLoopBackOff) and is not ready meanwhile. A new pod template (a new
// generation) replaces every pod: old processes are stopped before new ones
// start (the Recreate strategy, whatever the Deployment says). Scaling to 0
// or deleting the Deployment stops its processes. Stopping sends SIGTERM to
// the process group, then SIGKILL after the grace period (capped by
// Options.MaxGracePeriod). Every process also gets Pdeathsig SIGKILL, so
// nothing outlives the stand-in even when it is killed.
//
// With Options.PublishPods it also writes a Pod object per local pod
// (spec.nodeName Options.NodeName, status.podIP, phase, Ready, restart counts)
// so that kubectl get pods shows what runs; the objects are a view, never read
// back, and are deleted at once when the pods stop.
//
// Not modelled: init containers (a pod with them fails to start), liveness and
// startup probes, live updates of mounted Secrets and ConfigMaps, resource
// limits enforcement, and security contexts (readOnlyRootFilesystem is not
// enforced: the process runs as the caller's user).
package localkubelet
