//go:build tools

// This file is never built. It names the packages that rockset-go-client
// v0.24.2's own tests import, so that go.mod and go.sum require them and
// `go mod download` on a fresh clone puts them in the module cache: the suite
// then builds the client's tests offline.
package rocksetsuite

import (
	_ "github.com/confluentinc/confluent-kafka-go/kafka"
	_ "github.com/fatih/structs"
	_ "github.com/go-zookeeper/zk"
	_ "github.com/ory/dockertest/v3"
	_ "github.com/ory/dockertest/v3/docker"
	_ "github.com/rs/zerolog"
	_ "github.com/seborama/govcr/v14"
	_ "github.com/seborama/govcr/v14/cassette/track"
	_ "github.com/stretchr/testify/assert"
	_ "github.com/stretchr/testify/mock"
	_ "github.com/stretchr/testify/require"
	_ "github.com/stretchr/testify/suite"
)
