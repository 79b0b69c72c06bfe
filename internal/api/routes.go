package api

import "net/http"

// route is one operation of the API.
type route struct {
	Method  string
	Pattern string // http.ServeMux pattern, without the method
	// Op is the operationId in the OpenAPI document.
	Op     string
	Auth   authKind
	Handle func(a *API, w http.ResponseWriter, r *http.Request) error
}

// routes is the one table of every operation. TestOpenAPIMatchesRoutes keeps
// it equal to the paths of the OpenAPI document served at
// /api/v1/openapi.json.
var routes = []route{
	{"GET", "/api/v1/health", "v1.health.get", authNone, (*API).health},
	{"GET", "/api/v1/health/ping", "v1.health.ping", authNone, (*API).ping},
	{"GET", "/api/v1/openapi.json", "v1.openapi.get", authNone, (*API).openAPI},

	{"POST", "/api/v1/auth/app-portal-access/{app_id}", "v1.authentication.app-portal-access", authAdmin, (*API).appPortalAccess},
	{"POST", "/api/v1/auth/logout", "v1.authentication.logout", authRead, (*API).logout},

	// Herald extensions: admin API tokens.
	{"GET", "/api/v1/token", "v1.token.list", authAdmin, (*API).listTokens},
	{"POST", "/api/v1/token", "v1.token.create", authAdmin, (*API).createToken},
	{"DELETE", "/api/v1/token/{token_id}", "v1.token.delete", authAdmin, (*API).deleteToken},

	{"GET", "/api/v1/app", "v1.application.list", authAdmin, (*API).listApps},
	{"POST", "/api/v1/app", "v1.application.create", authAdmin, (*API).createApp},
	{"GET", "/api/v1/app/{app_id}", "v1.application.get", authApp, (*API).getApp},
	{"PUT", "/api/v1/app/{app_id}", "v1.application.update", authAdmin, (*API).updateApp},
	{"PATCH", "/api/v1/app/{app_id}", "v1.application.patch", authAdmin, (*API).patchApp},
	{"DELETE", "/api/v1/app/{app_id}", "v1.application.delete", authAdmin, (*API).deleteApp},

	{"GET", "/api/v1/app/{app_id}/endpoint", "v1.endpoint.list", authApp, (*API).listEndpoints},
	{"POST", "/api/v1/app/{app_id}/endpoint", "v1.endpoint.create", authApp, (*API).createEndpoint},
	{"GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}", "v1.endpoint.get", authApp, (*API).getEndpoint},
	{"PUT", "/api/v1/app/{app_id}/endpoint/{endpoint_id}", "v1.endpoint.update", authApp, (*API).updateEndpoint},
	{"PATCH", "/api/v1/app/{app_id}/endpoint/{endpoint_id}", "v1.endpoint.patch", authApp, (*API).patchEndpoint},
	{"DELETE", "/api/v1/app/{app_id}/endpoint/{endpoint_id}", "v1.endpoint.delete", authApp, (*API).deleteEndpoint},
	{"GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", "v1.endpoint.get-headers", authApp, (*API).getEndpointHeaders},
	{"PUT", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", "v1.endpoint.update-headers", authApp, (*API).updateEndpointHeaders},
	{"PATCH", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", "v1.endpoint.patch-headers", authApp, (*API).patchEndpointHeaders},
	{"GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", "v1.endpoint.get-secret", authApp, (*API).getEndpointSecret},
	{"POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", "v1.endpoint.rotate-secret", authApp, (*API).rotateEndpointSecret},
	{"GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", "v1.endpoint.get-stats", authApp, (*API).endpointStats},
	{"POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", "v1.endpoint.send-example", authApp, (*API).sendExample},
	{"POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", "v1.endpoint.recover", authApp, (*API).recoverEndpoint},
	{"GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", "v1.message-attempt.list-attempted-messages", authApp, (*API).listEndpointMessages},

	{"GET", "/api/v1/event-type", "v1.event-type.list", authRead, (*API).listEventTypes},
	{"POST", "/api/v1/event-type", "v1.event-type.create", authAdmin, (*API).createEventType},
	{"GET", "/api/v1/event-type/{event_type_name}", "v1.event-type.get", authRead, (*API).getEventType},
	{"PUT", "/api/v1/event-type/{event_type_name}", "v1.event-type.update", authAdmin, (*API).updateEventType},
	{"PATCH", "/api/v1/event-type/{event_type_name}", "v1.event-type.patch", authAdmin, (*API).patchEventType},
	{"DELETE", "/api/v1/event-type/{event_type_name}", "v1.event-type.delete", authAdmin, (*API).deleteEventType},

	{"GET", "/api/v1/app/{app_id}/msg", "v1.message.list", authApp, (*API).listMessages},
	{"POST", "/api/v1/app/{app_id}/msg", "v1.message.create", authAdmin, (*API).createMessage},
	{"GET", "/api/v1/app/{app_id}/msg/{msg_id}", "v1.message.get", authApp, (*API).getMessage},
	{"DELETE", "/api/v1/app/{app_id}/msg/{msg_id}/content", "v1.message.expunge-content", authAdmin, (*API).expungeMessage},
	// Herald extension: cancel a scheduled message.
	{"POST", "/api/v1/app/{app_id}/msg/{msg_id}/cancel", "v1.message.cancel", authAdmin, (*API).cancelMessage},
	{"GET", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint", "v1.message-attempt.list-attempted-destinations", authApp, (*API).listDestinations},
	{"POST", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", "v1.message-attempt.resend", authApp, (*API).resend},
	{"GET", "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", "v1.message-attempt.get", authApp, (*API).getAttempt},
	{"DELETE", "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", "v1.message-attempt.expunge-content", authAdmin, (*API).expungeAttempt},
	{"GET", "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", "v1.message-attempt.list-by-endpoint", authApp, (*API).listAttemptsByEndpoint},
	{"GET", "/api/v1/app/{app_id}/attempt/msg/{msg_id}", "v1.message-attempt.list-by-msg", authApp, (*API).listAttemptsByMsg},

	{"GET", "/api/v1/operational-webhook/endpoint", "v1.operational-webhook-endpoint.list", authAdmin, onOperational((*API).listOperationalEndpoints)},
	{"POST", "/api/v1/operational-webhook/endpoint", "v1.operational-webhook-endpoint.create", authAdmin, onOperational((*API).createOperationalEndpoint)},
	{"GET", "/api/v1/operational-webhook/endpoint/{endpoint_id}", "v1.operational-webhook-endpoint.get", authAdmin, onOperational((*API).getOperationalEndpoint)},
	{"PUT", "/api/v1/operational-webhook/endpoint/{endpoint_id}", "v1.operational-webhook-endpoint.update", authAdmin, onOperational((*API).updateOperationalEndpoint)},
	{"DELETE", "/api/v1/operational-webhook/endpoint/{endpoint_id}", "v1.operational-webhook-endpoint.delete", authAdmin, onOperational((*API).deleteEndpoint)},
	{"GET", "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", "v1.operational-webhook-endpoint.get-headers", authAdmin, onOperational((*API).getEndpointHeaders)},
	{"PUT", "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", "v1.operational-webhook-endpoint.update-headers", authAdmin, onOperational((*API).updateEndpointHeaders)},
	{"GET", "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", "v1.operational-webhook-endpoint.get-secret", authAdmin, onOperational((*API).getEndpointSecret)},
	{"POST", "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", "v1.operational-webhook-endpoint.rotate-secret", authAdmin, onOperational((*API).rotateEndpointSecret)},

	{"POST", "/api/v1/auth/dashboard-access/{app_id}", "v1.authentication.dashboard-access", authAdmin, (*API).dashboardAccess},
}
