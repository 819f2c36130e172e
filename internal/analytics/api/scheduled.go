package api

import (
	"context"
	"net/http"

	"github.com/rockset/rockset-go-client/openapi"
)

// ScheduleService is scheduled query lambdas: a cron string runs a lambda
// version (or tag) with an API key, a number of times or forever.
type ScheduleService interface {
	CreateScheduledLambda(ctx context.Context, ws string, req openapi.CreateScheduledLambdaRequest) (openapi.ScheduledLambda, error)
	GetScheduledLambda(ctx context.Context, ws, rrn string) (openapi.ScheduledLambda, error)
	// ListScheduledLambdas is not one of Rockset's routes; it answers
	// GET .../scheduled_lambdas, which Rockset's API left without a method.
	ListScheduledLambdas(ctx context.Context, ws string) ([]openapi.ScheduledLambda, error)
	UpdateScheduledLambda(ctx context.Context, ws, rrn string, req openapi.UpdateScheduledLambdaRequest) (openapi.ScheduledLambda, error)
	DeleteScheduledLambda(ctx context.Context, ws, rrn string) (openapi.ScheduledLambda, error)
}

func scheduleRoutes(route routeFunc, svc ScheduleService) {
	const sl = "/v1/orgs/self/ws/{ws}/scheduled_lambdas"
	route("POST "+sl, func(r *http.Request) (any, error) {
		var req openapi.CreateScheduledLambdaRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateScheduledLambda(r.Context(), r.PathValue("ws"), req)
	}, true)
	route("GET "+sl, func(r *http.Request) (any, error) { return svc.ListScheduledLambdas(r.Context(), r.PathValue("ws")) }, true)
	route("GET "+sl+"/{id}", func(r *http.Request) (any, error) {
		return svc.GetScheduledLambda(r.Context(), r.PathValue("ws"), r.PathValue("id"))
	}, true)
	route("POST "+sl+"/{id}", func(r *http.Request) (any, error) {
		var req openapi.UpdateScheduledLambdaRequest
		if err := decodeOptional(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateScheduledLambda(r.Context(), r.PathValue("ws"), r.PathValue("id"), req)
	}, true)
	route("DELETE "+sl+"/{id}", func(r *http.Request) (any, error) {
		return svc.DeleteScheduledLambda(r.Context(), r.PathValue("ws"), r.PathValue("id"))
	}, true)
}
