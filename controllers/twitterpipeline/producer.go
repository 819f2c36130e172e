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
	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/producer"
	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/tweet"
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
	// inputsChecksumAnnotation on the pod template fingerprints the Secret
	// and ConfigMap data the producer reads; a change rolls the producer.
	inputsChecksumAnnotation = "streamdash.io/inputs-checksum"
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

// producerConfig is what the producer runs with for the pipeline's source:
// the typed contract (internal/producer) that the pod's arguments encode.
func producerConfig(p *v1alpha1.TwitterPipeline, stream string) producer.Config {
	c := producer.Defaults()
	c.Stream = stream
	c.Listen = fmt.Sprintf("$(POD_IP):%d", producerPort)
	src := p.Spec.Source
	switch {
	case src.Replay != nil:
		r := src.Replay
		c.Source = producer.SourceReplay
		c.Replay.Rate = float64(r.Rate)
		if r.Rate <= 0 {
			c.Replay.Rate = producer.DefaultRate
		}
		switch {
		case r.Synthetic != nil:
			c.Replay.Seed = r.Synthetic.Seed
			c.Replay.Count = int(r.Synthetic.Count)
		case r.ConfigMapRef != nil:
			c.Replay.File = path.Join(replayMountPath, r.ConfigMapRef.Key)
		case r.File != "":
			c.Replay.File = r.File
		}
		if r.Synthetic == nil && r.Format != "" {
			c.Replay.Format = tweet.Format(r.Format)
		}
		c.Replay.RewriteTimestamps = r.RewriteTimestamps == nil || *r.RewriteTimestamps
		c.Replay.Loop = r.Loop
	case src.X != nil:
		c.Source = producer.SourceX
		for _, r := range src.X.Rules {
			c.XRules = append(c.XRules, xstream.Rule{Value: r.Value, Tag: r.Tag})
		}
		// The producer deletes exactly the rules carrying this prefix.
		c.RulesTagPrefix = producer.RulesTagPrefix(p.Namespace, p.Name)
		if src.X.Endpoint != "" {
			c.XEndpoint = src.X.Endpoint
		}
	case src.Bluesky != nil:
		b := src.Bluesky
		c.Source = producer.SourceBluesky
		if b.Endpoint != "" {
			c.JetstreamURL = b.Endpoint
		}
		c.BlueskyLangs = b.Languages
		c.BlueskyKeywords = b.Keywords
	}
	return c
}

// producerArgs are the producer's arguments for the pipeline. A '$' in a
// value is doubled so that the kubelet passes it through as written; only
// --listen relies on $(POD_IP) being expanded.
func producerArgs(p *v1alpha1.TwitterPipeline, stream string) ([]string, error) {
	args, err := producerConfig(p, stream).Args()
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		if !strings.HasPrefix(a, "--listen=") {
			args[i] = strings.ReplaceAll(a, "$", "$$")
		}
	}
	return args, nil
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
		env = append(env, secretEnv(producer.BearerTokenEnv, corev1.SecretKeySelector{
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
func (r *Reconciler) producerPodTemplate(p *v1alpha1.TwitterPipeline, stream, region string) (corev1.PodTemplateSpec, error) {
	args, err := producerArgs(p, stream)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
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
				Args:    args,
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
	}, nil
}

// templateHash fingerprints the inputs that should roll the producer.
func templateHash(t corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t) // a PodTemplateSpec always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// desiredProducer is the producer Deployment the pipeline wants. inputs is
// the checksum of the Secret and ConfigMap data the producer reads (see
// pass.inputs): it is a pod-template annotation, so a rotated key or a new
// replay file rolls the producer.
func (r *Reconciler) desiredProducer(p *v1alpha1.TwitterPipeline, stream, region, inputs string) (*appsv1.Deployment, error) {
	tpl, err := r.producerPodTemplate(p, stream, region)
	if err != nil {
		return nil, err
	}
	if inputs != "" {
		tpl.Annotations = map[string]string{inputsChecksumAnnotation: inputs}
	}
	hash := templateHash(tpl)
	tpl.Annotations = klabels.Merge(tpl.Annotations, map[string]string{templateHashAnnotation: hash})
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
	}, nil
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
func (r *Reconciler) reconcileProducer(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	desired, err := r.desiredProducer(p, s.streamName, s.region, s.inputs.sum())
	if err != nil {
		msg := fmt.Sprintf("the producer's arguments cannot be built: %v", err)
		s.setPart(v1alpha1.ConditionProducerReady, false, ReasonInvalidSpec, msg)
		return steps.Stalled(ReasonInvalidSpec, msg, 0)
	}
	if err := controllerutil.SetControllerReference(p, desired, r.client.Scheme()); err != nil {
		return steps.Retry(err)
	}
	var existing appsv1.Deployment
	err = r.client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: desired.Name}, &existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.client.Create(ctx, desired); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return steps.Wait(waitDeletion) // our cache is behind; read again
			}
			return steps.Retry(err)
		}
		r.event(p, status.EventNormal, EventProducerCreated, "Create", fmt.Sprintf("created producer Deployment %s", desired.Name))
		s.deployment = desired
	case err != nil:
		return steps.Retry(err)
	default:
		if !metav1.IsControlledBy(&existing, p) {
			msg := fmt.Sprintf("Deployment %s exists and is not owned by this pipeline; delete or rename it", desired.Name)
			s.setPart(v1alpha1.ConditionProducerReady, false, ReasonProducerConflict, msg)
			return steps.Stalled(ReasonProducerConflict, msg, 0)
		}
		if producerDrifted(&existing, desired) {
			existing.Labels = klabels.Merge(existing.Labels, desired.Labels)
			existing.Annotations = klabels.Merge(existing.Annotations, desired.Annotations)
			existing.Spec.Replicas = desired.Spec.Replicas
			existing.Spec.Strategy = desired.Spec.Strategy
			existing.Spec.Template = desired.Spec.Template
			if err := r.client.Update(ctx, &existing); err != nil {
				return steps.Retry(err)
			}
			r.event(p, status.EventNormal, EventProducerUpdated, "Update",
				fmt.Sprintf("updated producer Deployment %s (replicas %d)", existing.Name, producerReplicas(p)))
		}
		s.deployment = &existing
	}
	ready, reason, msg := producerState(s.deployment)
	s.setPart(v1alpha1.ConditionProducerReady, ready, reason, msg)
	if reason == ReasonProducerFailed {
		// The rollout gave up: only a change (a fixed image, Secret or spec)
		// helps. The owned Deployment's changes bring the pipeline back.
		return steps.Stalled(ReasonProducerFailed, msg, r.opts.ResyncPeriod)
	}
	if ready && s.deployment.Status.ReadyReplicas > 0 {
		if n, ok := r.postsWritten(ctx, s.deployment); ok {
			s.postsWritten = &n
		}
	}
	return steps.Done()
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
