package localkubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPathRewriter(t *testing.T) {
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "apikey", MountPath: "/etc/streamdash/apikey"},
		{Name: "replay", MountPath: "/etc/streamdash/replay/"},
		{Name: "conf", MountPath: "/etc/app/conf.yaml", SubPath: "conf.yaml"},
		{Name: "root", MountPath: "/etc/streamdash"},
	}}
	r, err := newPathRewriter(c, map[string]string{
		"apikey": "/tmp/p/volumes/apikey",
		"replay": "/tmp/p/volumes/replay",
		"conf":   "/tmp/p/volumes/conf",
		"root":   "/tmp/p/volumes/root",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, in, want string }{
		{"file under a mount", "/etc/streamdash/apikey/apikey", "/tmp/p/volumes/apikey/apikey"},
		{"flag with equals", "--api-key-file=/etc/streamdash/apikey/apikey", "--api-key-file=/tmp/p/volumes/apikey/apikey"},
		{"mount path itself", "/etc/streamdash/replay", "/tmp/p/volumes/replay"},
		{"longest mount wins", "/etc/streamdash/other", "/tmp/p/volumes/root/other"},
		{"sub path file", "/etc/app/conf.yaml", "/tmp/p/volumes/conf/conf.yaml"},
		{"prefix of a longer name is kept", "/etc/streamdash/apikeys/x", "/tmp/p/volumes/root/apikeys/x"},
		{"not at a boundary", "/x/etc/streamdash/apikey", "/x/etc/streamdash/apikey"},
		{"name continues", "/etc/streamdashboard", "/etc/streamdashboard"},
		{"two paths in one value", "a:/etc/streamdash/apikey,b:/etc/streamdash/replay/f", "a:/tmp/p/volumes/apikey,b:/tmp/p/volumes/replay/f"},
		{"unrelated", "--window=1h", "--window=1h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.rewrite(tc.in); got != tc.want {
				t.Fatalf("rewrite(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPathRewriterUnknownVolume(t *testing.T) {
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "missing", MountPath: "/x"}}}
	if _, err := newPathRewriter(c, nil); err == nil {
		t.Fatal("a mount of an undeclared volume was accepted")
	}
}
