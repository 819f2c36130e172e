// Package argocd holds streamdash's Argo CD health checks (Lua, run by Argo
// CD's embedded gopher-lua) and renders the argocd-cm snippet that installs
// them. The scripts live under resource_customizations/<group>/<Kind>/ in
// the layout of Argo CD's own repository, with their test fixtures.
package argocd

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed resource_customizations/streamdash.io/*/health.lua
var scripts embed.FS

// Kinds are the kinds with a health check, in the order the snippet lists them.
var Kinds = []string{"TwitterPipeline", "LiveDashboard"}

// Group is the API group of every kind.
const Group = "streamdash.io"

// HealthScript returns the Lua health check of a kind.
func HealthScript(kind string) (string, error) {
	b, err := scripts.ReadFile("resource_customizations/" + Group + "/" + kind + "/health.lua")
	if err != nil {
		return "", fmt.Errorf("no health check for %s: %w", kind, err)
	}
	return string(b), nil
}

// ConfigMapKey is the argocd-cm key under which Argo CD looks for a kind's
// health check.
func ConfigMapKey(kind string) string {
	return "resource.customizations.health." + Group + "_" + kind
}

// ConfigMapSnippet renders argocd-cm.yaml: the argocd-cm ConfigMap with
// only the health checks, to merge into an Argo CD installation.
func ConfigMapSnippet() (string, error) {
	var b strings.Builder
	b.WriteString(`# Generated from resource_customizations/ by config/argocd's tests
# (go test ./config/argocd -update). Merge it into Argo CD's configuration:
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`)
	for _, kind := range Kinds {
		script, err := HealthScript(kind)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  %s: |\n", ConfigMapKey(kind))
		for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String(), nil
}
