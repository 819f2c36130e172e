# streamdash: `make help` lists the targets.

IMG ?= ghcr.io/streamdash/streamdash:dev
K8S_VERSION ?= 1.37.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
ENVTEST_DIR ?= $(LOCALBIN)/k8s/$(K8S_VERSION)
KUBECTL ?= $(ENVTEST_DIR)/kubectl

# Tests that need more than the Go toolchain (envtest, the Kinesis emulator,
# Chromium) find their tools through these.
export KUBEBUILDER_ASSETS ?= $(ENVTEST_DIR)
GOTEST_TIMEOUT ?= 25m

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and the controllers' markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files are not current.
	@git diff --exit-code -- api config/crd config/rbac || { echo "generated files are stale: run make manifests generate and commit"; exit 1; }

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: test
test: ## Run every test: unit, envtest, emulator, analytics, browser and end-to-end (on the local node).
	go vet ./...
	# go test starts packages in import-path order, so test/e2e (minutes, most
	# of them waiting on its node) would start last: it runs beside the rest.
	# make -j rather than a shell's background job, which would ignore Ctrl-C.
	# The two targets' prerequisites install the tools, each once.
	$(MAKE) --no-print-directory -j2 test-e2e test-packages

# -count=1: the end-to-end suite builds and runs the programs, which go test's cache cannot see.
# test/e2e renders dist/install.yaml with $(KUSTOMIZE), as build-installer does.
.PHONY: test-e2e
test-e2e: $(KUSTOMIZE) envtest node-tools kinesis-local chromium ## Run the end-to-end suite alone (on the local node, as root).
	KUSTOMIZE=$(KUSTOMIZE) go test -count=1 -timeout $(GOTEST_TIMEOUT) ./test/e2e

.PHONY: test-packages
test-packages: $(CONTROLLER_GEN) envtest kinesis-local chromium ## Run every test but the end-to-end suite.
	CONTROLLER_GEN=$(CONTROLLER_GEN) go test -count=1 -timeout $(GOTEST_TIMEOUT) $$(go list ./... | grep -v '/test/e2e$$')

##@ Build

.PHONY: build
build: ## Build manager, producer, analytics and dashboard into bin/.
	go build -o $(LOCALBIN)/ ./cmd/...

.PHONY: run
run: manifests generate ## Run the manager against the cluster in ~/.kube/config (or $$KUBECONFIG).
	go run ./cmd/manager

.PHONY: demo
demo: build build-installer node-tools kinesis-local ## Run the whole system on a local Kubernetes node (root): image, dist/install.yaml, samples.
	go build -o $(LOCALBIN)/streamdash-demo ./hack/demo
	$(LOCALBIN)/streamdash-demo

.PHONY: image
image: build ## Build the streamdash image without a container engine: bin/images/streamdash.tar (docker-archive).
	go run ./hack/image -bin-dir $(LOCALBIN) -o $(LOCALBIN)/images/streamdash.tar

.PHONY: node-up
node-up: node-tools image ## Start the local Kubernetes node (root, Linux) with the streamdash image imported.
	go run ./hack/node up $(LOCALBIN)/images/streamdash.tar

.PHONY: node-down
node-down: ## Stop the local node and remove everything it put on the machine.
	go run ./hack/node down

.PHONY: docker-build
docker-build: ## Build the container image (needs a container engine).
	docker build -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests $(KUSTOMIZE) ## Install the CRDs into the cluster.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests $(KUSTOMIZE) ## Remove the CRDs from the cluster.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests $(KUSTOMIZE) ## Deploy the operator and the analytics server with image $(IMG).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Remove what deploy installed.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

.PHONY: build-installer
build-installer: manifests generate $(KUSTOMIZE) ## Write dist/install.yaml (CRDs, RBAC, manager, analytics).
	mkdir -p dist
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Tools

.PHONY: envtest
envtest: ## Build etcd + kube-apiserver + kubectl for envtest into bin/k8s/$(K8S_VERSION).
	@K8S_VERSION=$(K8S_VERSION) hack/envtest.sh

.PHONY: node-tools
node-tools: envtest ## Build the local node's parts (kubelet & co, containerd, CoreDNS; runc and CNI from apt) into bin/.
	@K8S_VERSION=$(K8S_VERSION) hack/node-tools.sh

.PHONY: kinesis-local
kinesis-local: ## Install the Kinesis emulator (npm kinesis-local) into bin/.
	@hack/kinesis-local.sh install >/dev/null

.PHONY: chromium
chromium: ## Install Debian's Chromium for the browser tests (when root and missing).
	@hack/chromium.sh

# go install would link them again in every fresh clone; hack/go-build-cached.sh
# takes them from the Go build cache.
$(CONTROLLER_GEN):
	hack/go-build-cached.sh $@ sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

$(KUSTOMIZE):
	hack/go-build-cached.sh $@ sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
