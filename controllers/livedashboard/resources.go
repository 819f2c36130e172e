package livedashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
)

// Dashboard pod constants from the operator contract.
const (
	containerPort = 8080
	portName      = "http"
	keyMountDir   = "/etc/streamdash/apikey"
	keyFileName   = "apikey"
	// keySecretKey is the key of the key Secret's data that holds the key.
	keySecretKey = "apikey"
	nonRootUID   = 65532
	// specHashAnnotation records the desired spec last written, so an
	// unchanged Deployment or Service is not rewritten on every refresh.
	specHashAnnotation = "streamdash.io/spec-hash"
)

// Name is the dashboard Deployment's and Service's name.
func Name(d *v1alpha1.LiveDashboard) string { return d.Name + "-dashboard" }

// KeySecretName is the Secret holding the dashboard's own API key, which
// its pod mounts: <dashboard>-dashboard-apikey.
func KeySecretName(d *v1alpha1.LiveDashboard) string { return Name(d) + "-apikey" }

// URL is the Service's in-cluster URL, status.url.
func URL(d *v1alpha1.LiveDashboard) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", Name(d), d.Namespace, servicePort(d))
}

func servicePort(d *v1alpha1.LiveDashboard) int32 {
	if d.Spec.Service.Port > 0 {
		return d.Spec.Service.Port
	}
	return 80
}

func labels(d *v1alpha1.LiveDashboard) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "dashboard",
		"app.kubernetes.io/instance":   d.Name,
		"app.kubernetes.io/managed-by": "streamdash",
		"streamdash.io/pipeline":       d.Spec.PipelineRef.Name,
	}
}

func selector(d *v1alpha1.LiveDashboard) map[string]string {
	return map[string]string{"app.kubernetes.io/name": "dashboard", "app.kubernetes.io/instance": d.Name}
}

// escapeArg keeps Kubernetes from expanding $(VAR) inside a value that comes
// from a spec.
func escapeArg(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// dashboardArgs are the dashboard program's flags (operator contract).
func dashboardArgs(d *v1alpha1.LiveDashboard, p *v1alpha1.TwitterPipeline, conn rocksetconn.Connection) []string {
	args := []string{
		"--listen=$(POD_IP):" + strconv.Itoa(containerPort),
		"--analytics-endpoint=" + escapeArg(conn.APIServer),
		"--api-key-file=" + keyMountDir + "/" + keyFileName,
		"--workspace=" + escapeArg(names.Workspace(p)),
		"--collection=" + escapeArg(names.Collection(p)),
		"--window=" + window(d).String(),
		"--top-n=" + strconv.Itoa(int(topN(d))),
	}
	if d.Spec.Hashtag != "" {
		args = append(args, "--hashtag="+escapeArg(d.Spec.Hashtag))
	}
	return args
}

// desiredDeployment is the dashboard Deployment for d (without owner
// reference, which the caller sets).
func desiredDeployment(d *v1alpha1.LiveDashboard, p *v1alpha1.TwitterPipeline, conn rocksetconn.Connection, o *Options) *appsv1.Deployment {
	probe := &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(portName)}},
		PeriodSeconds:    5,
		TimeoutSeconds:   2,
		FailureThreshold: 3,
	}
	liveness := probe.DeepCopy()
	liveness.PeriodSeconds, liveness.FailureThreshold = 10, 6
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: Name(d), Namespace: d.Namespace, Labels: labels(d)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: selector(d)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(d)},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](nonRootUID),
						RunAsGroup:     ptr.To[int64](nonRootUID),
						FSGroup:        ptr.To[int64](nonRootUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    "dashboard",
						Image:   o.Image,
						Command: []string{"dashboard"},
						Args:    dashboardArgs(d, p, conn),
						Env: []corev1.EnvVar{{
							Name:      "POD_IP",
							ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}},
						}},
						Ports:          []corev1.ContainerPort{{Name: portName, ContainerPort: containerPort, Protocol: corev1.ProtocolTCP}},
						ReadinessProbe: probe,
						LivenessProbe:  liveness,
						Resources:      *o.Resources.DeepCopy(),
						VolumeMounts:   []corev1.VolumeMount{{Name: "apikey", MountPath: keyMountDir, ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             ptr.To(true),
							RunAsUser:                ptr.To[int64](nonRootUID),
							ReadOnlyRootFilesystem:   ptr.To(true),
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
					Volumes: []corev1.Volume{{
						Name: "apikey",
						VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName:  KeySecretName(d),
							Items:       []corev1.KeyToPath{{Key: keySecretKey, Path: keyFileName}},
							DefaultMode: ptr.To[int32](0o440),
						}},
					}},
				},
			},
		},
	}
	setSpecHash(&dep.ObjectMeta, dep.Spec)
	return dep
}

func desiredService(d *v1alpha1.LiveDashboard) *corev1.Service {
	typ := corev1.ServiceType(d.Spec.Service.Type)
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: Name(d), Namespace: d.Namespace, Labels: labels(d)},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: selector(d),
			Ports: []corev1.ServicePort{{
				Name: portName, Port: servicePort(d), TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	setSpecHash(&svc.ObjectMeta, svc.Spec)
	return svc
}

func setSpecHash(m *metav1.ObjectMeta, spec any) {
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[specHashAnnotation] = hex.EncodeToString(sum[:8])
}

// upToDate reports whether an existing object was written from the same
// desired spec and carries the same labels.
func upToDate(existing, desired metav1.Object) bool {
	if existing.GetAnnotations()[specHashAnnotation] != desired.GetAnnotations()[specHashAnnotation] {
		return false
	}
	for k, v := range desired.GetLabels() {
		if existing.GetLabels()[k] != v {
			return false
		}
	}
	return true
}

// deploymentAvailable reads the Deployment's Available condition.
func deploymentAvailable(dep *appsv1.Deployment) (bool, string) {
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue, c.Message
		}
	}
	return false, "the dashboard Deployment has no Available condition yet"
}
