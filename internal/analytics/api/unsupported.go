package api

import "net/http"

// unsupportedRoutes answer 501, naming what is not supported, for the parts
// of Rockset's API this server does not implement: a client migrating from
// Rockset learns why instead of meeting a 404 for a route it knows.
func unsupportedRoutes(route routeFunc) {
	const o = "/v1/orgs/self"
	for pattern, why := range map[string]string{
		o + "/virtualinstances":       "virtual instances are not supported: one server runs every query",
		o + "/virtualinstances/":      "virtual instances are not supported: one server runs every query",
		o + "/users":                  "users are not supported: access is by API keys with roles",
		o + "/users/self":             "users are not supported: access is by API keys with roles",
		o + "/users/self/preferences": "users are not supported: access is by API keys with roles",
		o + "/users/{user}":           "users are not supported: access is by API keys with roles",
		o + "/deploymentsettings":     "deployment settings are not supported",
		o + "/ws/{ws}/collections/{c}/sources/{source}/suspend": "suspending a source is not supported",
		o + "/ws/{ws}/collections/{c}/sources/{source}/resume":  "suspending a source is not supported",
		"/v1/public/shared_lambdas/{id}":                        "shared (public) query lambdas are not supported",
	} {
		route(pattern, func(r *http.Request) (any, error) {
			return nil, Errorf(NotImplemented, "%s (%s %s)", why, r.Method, r.URL.Path)
		}, true)
	}
}
