package analytics

import (
	"context"
	"sort"
	"strings"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
)

func integrationView(i *meta.Integration, colls []openapi.Collection) openapi.Integration {
	out := openapi.Integration{Name: i.Name, CreatedBy: i.CreatedBy, CreatedAt: ptr(i.CreatedAt), Collections: colls, Kinesis: &openapi.KinesisIntegration{}}
	if i.Description != "" {
		out.Description = ptr(i.Description)
	}
	if i.AccessKeyID != "" {
		// The secret never leaves the server.
		out.Kinesis.AwsAccessKey = &openapi.AwsAccessKey{AwsAccessKeyId: i.AccessKeyID}
	}
	if i.RoleARN != "" {
		out.Kinesis.AwsRole = &openapi.AwsRole{AwsRoleArn: i.RoleARN}
		if i.ExternalID != "" {
			out.Kinesis.AwsRole.AwsExternalId = ptr(i.ExternalID)
		}
	}
	return out
}

func (s *Server) integrationCollections(st *meta.State, name string) []openapi.Collection {
	var out []openapi.Collection
	for _, c := range st.Collections {
		for _, src := range c.Sources {
			if src.IntegrationName == name {
				out = append(out, openapi.Collection{Name: ptr(c.Name), Workspace: ptr(c.Workspace)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].Workspace+*out[i].Name < *out[j].Workspace+*out[j].Name })
	return out
}

const onlyKinesis = "only Kinesis integrations are supported (not S3, GCS, Kafka, DynamoDB, MongoDB, Azure or Snowflake): give kinesis"

// CreateIntegration creates a Kinesis integration.
func (s *Server) CreateIntegration(ctx context.Context, req openapi.CreateIntegrationRequest) (openapi.Integration, error) {
	if err := checkName("integration", req.Name); err != nil {
		return openapi.Integration{}, err
	}
	k := req.Kinesis
	if k == nil {
		return openapi.Integration{}, api.Errorf(api.NotImplemented, "%s", onlyKinesis)
	}
	i := &meta.Integration{Name: req.Name, Description: req.GetDescription(), CreatedAt: now(), CreatedBy: createdBy}
	if err := setKinesisCredentials(i, k); err != nil {
		return openapi.Integration{}, err
	}
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Integrations[req.Name]; ok {
			return api.Errorf(api.AlreadyExists, "integration %q already exists", req.Name)
		}
		st.Integrations[req.Name] = i
		return nil
	})
	if err != nil {
		return openapi.Integration{}, err
	}
	s.event(ctx, "INTEGRATION_CREATED", "INTEGRATION", "INFO", map[string]any{"integrations": []string{req.Name}})
	return integrationView(i, nil), nil
}

// setKinesisCredentials gives i the credentials k names, replacing any it had.
// Neither keys nor a role: the streams are read with the server's own AWS
// identity (IRSA, EKS Pod Identity, the environment), which is how a
// cluster-local server is usually granted access. Hosted Rockset had no
// identity of its own to lend, so it required one of the two.
func setKinesisCredentials(i *meta.Integration, k *openapi.KinesisIntegration) error {
	i.AccessKeyID, i.SecretAccessKey, i.RoleARN, i.ExternalID = "", "", "", ""
	switch {
	case k.AwsAccessKey != nil:
		if k.AwsAccessKey.AwsAccessKeyId == "" || k.AwsAccessKey.AwsSecretAccessKey == "" {
			return api.Errorf(api.InvalidInput, "aws_access_key needs aws_access_key_id and aws_secret_access_key")
		}
		i.AccessKeyID, i.SecretAccessKey = k.AwsAccessKey.AwsAccessKeyId, k.AwsAccessKey.AwsSecretAccessKey
	case k.AwsRole != nil:
		if !strings.HasPrefix(k.AwsRole.AwsRoleArn, "arn:") {
			return api.Errorf(api.InvalidInput, "aws_role.aws_role_arn must be an ARN")
		}
		i.RoleARN, i.ExternalID = k.AwsRole.AwsRoleArn, k.AwsRole.GetAwsExternalId()
	}
	return nil
}

// UpdateIntegration is Rockset's updateIntegration for a Kinesis
// integration: new credentials (a rotated key pair, another role) and a new
// description. The metadata file keeps the new secret sealed like any other.
// Collections reading through the integration switch at once: their readers
// stop and start again with the new credentials from their committed
// checkpoints (documents and checkpoints are committed together), so a
// rotation loses and repeats nothing.
func (s *Server) UpdateIntegration(ctx context.Context, name string, req openapi.UpdateIntegrationRequest) (openapi.Integration, error) {
	if req.S3 != nil || req.Gcs != nil || req.Kafka != nil || req.Dynamodb != nil || req.Mongodb != nil ||
		req.Snowflake != nil || req.AzureBlobStorage != nil || req.AzureEventHubs != nil || req.AzureServiceBus != nil {
		return openapi.Integration{}, api.Errorf(api.NotImplemented, "%s", onlyKinesis)
	}
	if req.Kinesis == nil && req.Description == nil {
		return openapi.Integration{}, api.Errorf(api.InvalidInput, "nothing to update: give kinesis (new credentials) or description")
	}
	var out openapi.Integration
	err := s.meta.Update(func(st *meta.State) error {
		i, ok := st.Integrations[name]
		if !ok {
			return api.Errorf(api.NotFound, "integration %q not found", name)
		}
		if req.Kinesis != nil {
			if err := setKinesisCredentials(i, req.Kinesis); err != nil {
				return err
			}
		}
		if req.Description != nil {
			i.Description = *req.Description
		}
		out = integrationView(i, s.integrationCollections(st, name))
		return nil
	})
	if err != nil {
		return openapi.Integration{}, err
	}
	if req.Kinesis != nil {
		s.restartReaders(name)
	}
	s.event(ctx, "INTEGRATION_UPDATED", "INTEGRATION", "INFO", map[string]any{"integrations": []string{name}})
	return out, nil
}

// GetIntegration returns one integration.
func (s *Server) GetIntegration(ctx context.Context, name string) (openapi.Integration, error) {
	var out openapi.Integration
	var err error
	s.meta.View(func(st *meta.State) {
		i, ok := st.Integrations[name]
		if !ok {
			err = api.Errorf(api.NotFound, "integration %q not found", name)
			return
		}
		out = integrationView(i, s.integrationCollections(st, name))
	})
	return out, err
}

// ListIntegrations lists integrations by name.
func (s *Server) ListIntegrations(ctx context.Context) ([]openapi.Integration, error) {
	out := []openapi.Integration{}
	s.meta.View(func(st *meta.State) {
		for _, i := range st.Integrations {
			out = append(out, integrationView(i, s.integrationCollections(st, i.Name)))
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteIntegration deletes an integration no collection uses.
func (s *Server) DeleteIntegration(ctx context.Context, name string) (openapi.Integration, error) {
	var out openapi.Integration
	err := s.meta.Update(func(st *meta.State) error {
		i, ok := st.Integrations[name]
		if !ok {
			return api.Errorf(api.NotFound, "integration %q not found", name)
		}
		if used := s.integrationCollections(st, name); len(used) > 0 {
			return api.Errorf(api.DependentResources, "integration %q is used by collection %s.%s", name, *used[0].Workspace, *used[0].Name)
		}
		out = integrationView(i, nil)
		delete(st.Integrations, name)
		return nil
	})
	if err == nil {
		s.event(ctx, "INTEGRATION_DELETED", "INTEGRATION", "INFO", map[string]any{"integrations": []string{name}})
	}
	return out, err
}
