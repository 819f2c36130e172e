package twitterpipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
)

// Producer pod constants from the operator contract.
const (
	producerContainer      = "producer"
	producerPort           = 8081
	producerPortName       = "metrics"
	replayMountPath        = "/etc/streamdash/replay"
	replayVolume           = "replay"
	tmpVolume              = "tmp"
	nonRootUID             = 65532
	templateHashAnnotation = "streamdash.io/template-hash"
)

// Labels from the operator contract.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPipeline  = "streamdash.io/pipeline"
)

func producerName(p *v1alpha1.TwitterPipeline) string { return p.Name + "-producer" }

func producerSelector(p *v1alpha1.TwitterPipeline) map[string]string {
	return map[string]string{labelName: "producer", labelInstance: p.Name}
}

func producerLabels(p *v1alpha1.TwitterPipeline) map[string]string {
	l := producerSelector(p)
	l[labelManagedBy] = managedBy
	l[labelPipeline] = p.Name
	return l
}

// producerArgs are the producer's flags for the pipeline's source.
func producerArgs(p *v1alpha1.TwitterPipeline, stream string) []string {
	args := []string{
		"--stream=" + stream,
		fmt.Sprintf("--listen=$(POD_IP):%d", producerPort),
	}
	src := p.Spec.Source
	switch {
	case src.Replay != nil:
		r := src.Replay
		rate := r.Rate
		if rate <= 0 {
			rate = 10
		}
		args = append(args, "--source=replay", fmt.Sprintf("--rate=%d", rate))
		switch {
		case r.Synthetic != nil:
			args = append(args, fmt.Sprintf("--synthetic-seed=%d", r.Synthetic.Seed))
			if r.Synthetic.Count > 0 {
				args = append(args, fmt.Sprintf("--count=%d", r.Synthetic.Count))
			}
		case r.ConfigMapRef != nil:
			args = append(args, "--replay-file="+path.Join(replayMountPath, r.ConfigMapRef.Key))
		case r.File != "":
			args = append(args, "--replay-file="+r.File)
		}
		if r.Synthetic == nil {
			format := string(r.Format)
			if format == "" {
				format = "auto"
			}
			args = append(args, "--replay-format="+format)
		}
		args = append(args, fmt.Sprintf("--rewrite-timestamps=%t", r.RewriteTimestamps == nil || *r.RewriteTimestamps))
		if r.Loop {
			args = append(args, "--loop")
		}
	case src.X != nil:
		rules, _ := json.Marshal(src.X.Rules) // []XRule always marshals
		args = append(args, "--source=x", "--x-rules="+string(rules))
		if src.X.Endpoint != "" {
			args = append(args, "--x-endpoint="+src.X.Endpoint)
		}
	case src.Bluesky != nil:
		b := src.Bluesky
		args = append(args, "--source=bluesky")
		if b.Endpoint != "" {
			args = append(args, "--jetstream-url="+b.Endpoint)
		}
		if len(b.Languages) > 0 {
			args = append(args, "--bluesky-langs="+strings.Join(b.Languages, ","))
		}
		if len(b.Keywords) > 0 {
			args = append(args, "--bluesky-keywords="+strings.Join(b.Keywords, ","))
		}
	}
	return args
}

func secretEnv(name string, ref corev1.SecretKeySelector) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &ref}}
}

// producerEnv: POD_IP, the plain AWS_* settings, and Secret references for
// everything secret (never values).
func (r *Reconciler) producerEnv(p *v1alpha1.TwitterPipeline, region string) []corev1.EnvVar {
	env := []corev1.EnvVar{{
		Name:      "POD_IP",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}},
	}}
	for _, e := range r.opts.ProducerEnv {
		if e.Name != "AWS_REGION" && e.Name != "POD_IP" {
			env = append(env, e)
		}
	}
	if region != "" {
		env = append(env, corev1.EnvVar{Name: "AWS_REGION", Value: region})
	}
	if ref := p.Spec.Stream.CredentialsSecretRef; ref != nil {
		obj := corev1.LocalObjectReference{Name: ref.Name}
		env = append(env,
			secretEnv(awsAccessKeyIDKey, corev1.SecretKeySelector{LocalObjectReference: obj, Key: awsAccessKeyIDKey}),
			secretEnv(awsSecretAccessKeyKey, corev1.SecretKeySelector{LocalObjectReference: obj, Key: awsSecretAccessKeyKey}))
	}
	if x := p.Spec.Source.X; x != nil {
		env = append(env, secretEnv("X_BEARER_TOKEN", corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: x.BearerTokenSecretRef.Name},
			Key:                  x.BearerTokenSecretRef.Key,
		}))
	}
	return env
}

func producerResources(p *v1alpha1.TwitterPipeline) corev1.ResourceRequirements {
	if r := p.Spec.Producer.Resources; r != nil {
		return *r.DeepCopy()
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("50m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
}

func producerReplicas(p *v1alpha1.TwitterPipeline) int32 {
	if r := p.Spec.Producer.Replicas; r != nil {
		return *r
	}
	return 1
}

// producerPodTemplate is the hardened pod template for the pipeline's producer.
func (r *Reconciler) producerPodTemplate(p *v1alpha1.TwitterPipeline, stream, region string) corev1.PodTemplateSpec {
	image := p.Spec.Producer.Image
	if image == "" {
		image = r.opts.Image
	}
	mounts := []corev1.VolumeMount{{Name: tmpVolume, MountPath: "/tmp"}}
	volumes := []corev1.Volume{{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if rp := p.Spec.Source.Replay; rp != nil && rp.ConfigMapRef != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: replayVolume, MountPath: replayMountPath, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: replayVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: rp.ConfigMapRef.Name},
				Items:                []corev1.KeyToPath{{Key: rp.ConfigMapRef.Key, Path: rp.ConfigMapRef.Key}},
			},
		}})
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: producerLabels(p)},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false), // the producer never calls the Kubernetes API
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To(int64(nonRootUID)),
				RunAsGroup:     ptr.To(int64(nonRootUID)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:    producerContainer,
				Image:   image,
				Command: []string{"producer"},
				Args:    producerArgs(p, stream),
				Env:     r.producerEnv(p, region),
				Ports:   []corev1.ContainerPort{{Name: producerPortName, ContainerPort: producerPort, Protocol: corev1.ProtocolTCP}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/healthz", Port: intstr.FromString(producerPortName),
					}},
					PeriodSeconds: 5,
				},
				Resources: producerResources(p),
				SecurityContext: &corev1.SecurityContext{
					RunAsNonRoot:             ptr.To(true),
					RunAsUser:                ptr.To(int64(nonRootUID)),
					ReadOnlyRootFilesystem:   ptr.To(true),
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				VolumeMounts: mounts,
			}},
			Volumes: volumes,
		},
	}
}

// templateHash fingerprints the inputs that should roll the producer.
func templateHash(t corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t) // a PodTemplateSpec always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// desiredProducer is the producer Deployment the pipeline wants.
func (r *Reconciler) desiredProducer(p *v1alpha1.TwitterPipeline, stream, region string) *appsv1.Deployment {
	tpl := r.producerPodTemplate(p, stream, region)
	hash := templateHash(tpl)
	tpl.Annotations = map[string]string{templateHashAnnotation: hash}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        producerName(p),
			Namespace:   p.Namespace,
			Labels:      producerLabels(p),
			Annotations: map[string]string{templateHashAnnotation: hash},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(producerReplicas(p)),
			Selector: &metav1.LabelSelector{MatchLabels: producerSelector(p)},
			// One writer at a time: a surge pod would write the same posts twice.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: tpl,
		},
	}
}

// producerDrifted says whether existing must be updated to desired: the
// inputs changed (hash), the replicas differ, or someone edited what the
// producer runs. Fields the API server defaults are not compared, so an
// unchanged pipeline never writes.
func producerDrifted(existing, desired *appsv1.Deployment) bool {
	if existing.Annotations[templateHashAnnotation] != desired.Annotations[templateHashAnnotation] {
		return true
	}
	if ptr.Deref(existing.Spec.Replicas, 1) != ptr.Deref(desired.Spec.Replicas, 1) {
		return true
	}
	for k, v := range desired.Labels {
		if existing.Labels[k] != v {
			return true
		}
	}
	ec, dc := existing.Spec.Template.Spec.Containers, desired.Spec.Template.Spec.Containers
	if len(ec) != len(dc) {
		return true
	}
	for i := range dc {
		if ec[i].Image != dc[i].Image || !slices.Equal(ec[i].Command, dc[i].Command) || !slices.Equal(ec[i].Args, dc[i].Args) {
			return true
		}
	}
	return false
}

// reconcileProducer creates or updates the producer Deployment and reads its
// availability. The Deployment is owned, so its changes bring us back.
func (r *Reconciler) reconcileProducer(ctx context.Context, s *pass) outcome {
	p := s.p
	desired := r.desiredProducer(p, s.streamName, s.region)
	if err := controllerutil.SetControllerReference(p, desired, r.client.Scheme()); err != nil {
		return retry(err)
	}
	var existing appsv1.Deployment
	err := r.client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: desired.Name}, &existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.client.Create(ctx, desired); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return waitFor(waitDeletion) // our cache is behind; read again
			}
			return retry(err)
		}
		r.event(p, status.EventNormal, EventProducerCreated, "Create", fmt.Sprintf("created producer Deployment %s", desired.Name))
		s.deployment = desired
	case err != nil:
		return retry(err)
	default:
		if !metav1.IsControlledBy(&existing, p) {
			msg := fmt.Sprintf("Deployment %s exists and is not owned by this pipeline; delete or rename it", desired.Name)
			s.setPart(v1alpha1.ConditionProducerReady, false, ReasonProducerConflict, msg)
			return stalled(ReasonProducerConflict, msg, 0)
		}
		if producerDrifted(&existing, desired) {
			existing.Labels = mergeMaps(existing.Labels, desired.Labels)
			existing.Annotations = mergeMaps(existing.Annotations, desired.Annotations)
			existing.Spec.Replicas = desired.Spec.Replicas
			existing.Spec.Strategy = desired.Spec.Strategy
			existing.Spec.Template = desired.Spec.Template
			if err := r.client.Update(ctx, &existing); err != nil {
				return retry(err)
			}
			r.event(p, status.EventNormal, EventProducerUpdated, "Update",
				fmt.Sprintf("updated producer Deployment %s (replicas %d)", existing.Name, producerReplicas(p)))
		}
		s.deployment = &existing
	}
	ready, reason, msg := producerState(s.deployment)
	s.setPart(v1alpha1.ConditionProducerReady, ready, reason, msg)
	if ready && s.deployment.Status.ReadyReplicas > 0 {
		if n, ok := r.postsWritten(ctx, s.deployment); ok {
			s.postsWritten = &n
		}
	}
	return done()
}

// producerState reads a Deployment's availability into the ProducerReady verdict.
func producerState(d *appsv1.Deployment) (bool, string, string) {
	want := ptr.Deref(d.Spec.Replicas, 1)
	rolled := d.Status.ObservedGeneration >= d.Generation && d.Generation > 0
	if want == 0 {
		if rolled && d.Status.Replicas == 0 {
			return true, ReasonProducerPaused, "spec.producer.replicas is 0: the pipeline is paused"
		}
		return false, ReasonProducerProgressing, fmt.Sprintf("pausing producer Deployment %s", d.Name)
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return false, ReasonProducerFailed, fmt.Sprintf("producer Deployment %s did not become available: %s", d.Name, c.Message)
		}
	}
	available := false
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			available = true
		}
	}
	if rolled && available && d.Status.UpdatedReplicas >= want && d.Status.AvailableReplicas >= want {
		return true, ReasonProducerAvailable, fmt.Sprintf("producer Deployment %s is available", d.Name)
	}
	return false, ReasonProducerProgressing, fmt.Sprintf("waiting for producer Deployment %s to become available", d.Name)
}

func mergeMaps(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}
