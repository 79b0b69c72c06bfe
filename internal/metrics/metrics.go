// Package metrics exposes Herald's Prometheus metrics: deliveries and their
// latency, the delivery queue, API latency by route, and the store's batch
// writes. Every name starts with herald_ and carries its unit; labels take
// values from fixed sets (route patterns, not paths; no ids), so the number
// of series does not grow with traffic.
//
// A Metrics is told about events through small hooks that keep the packages
// it measures free of Prometheus: it implements delivery.Observer, its
// APIRequest method has the shape of api.Options.Observe, and Batch wraps a
// store write. The queue gauges come from a QueueSampler that asks the store
// every few seconds, never per scrape.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Attempt outcomes, as the delivery engine reports them. Anything else is
// counted as "other".
var outcomes = []string{"success", "failure", "timeout", "error"}

// Failure classes of delivery attempts: no usable answer (the egress
// classes), or the class of the status answered. Anything else is counted
// as "other".
var failureClasses = []string{"connect", "dns", "timeout", "tls", "ssrf", "closed", "protocol", "url", "other", "1xx", "3xx", "4xx", "5xx"}

// Store batch kinds: messages written by the API (ingest), deliveries
// claimed, attempts recorded (complete), and the read of an endpoint's
// failure clock when a message exhausts its retries (disable_check).
// Anything else is counted as "other".
var batchKinds = []string{"ingest", "claim", "complete", "disable_check"}

// Methods the API serves; any other method is labelled "other".
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// Buckets, in seconds unless named otherwise.
var (
	// A delivery request: from a fast local receiver to the longest
	// request timeout (5m).
	attemptBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 60, 300}
	// An API request: mostly a group commit away from done.
	apiBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// One store transaction.
	commitBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	// Items per batch: powers of two up to the largest batch (1024).
	sizeBuckets = prometheus.ExponentialBuckets(1, 2, 11)
)

// Metrics holds Herald's metrics in a registry of its own, so that several
// servers in one process (tests) do not collide.
type Metrics struct {
	reg *prometheus.Registry

	attempts        *prometheus.CounterVec
	attemptDuration *prometheus.HistogramVec
	operational     *prometheus.CounterVec
	failures        *prometheus.CounterVec
	circuits        *prometheus.CounterVec
	apiRequests     *prometheus.CounterVec
	apiDuration     *prometheus.HistogramVec
	batchSize       *prometheus.HistogramVec
	batchDuration   *prometheus.HistogramVec
	batchErrors     *prometheus.CounterVec
	queueDue        *prometheus.GaugeVec
	queueOldestAge  prometheus.Gauge
	queueErrors     prometheus.Counter
	queueSampled    prometheus.Gauge
}

// Build names the running binary in herald_build_info.
type Build struct {
	// Version is Herald's version; Revision the commit it was built from
	// (empty when unknown).
	Version, Revision string
}

// New returns the metrics, registered with a new registry together with the
// Go runtime and process collectors and herald_build_info for build.
func New(build Build) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_delivery_attempts_total",
			Help: "Delivery attempts (HTTP requests to endpoints) by outcome: success (2xx), failure (any other status), timeout, error (no response: refused, DNS, TLS, SSRF guard).",
		}, []string{"outcome"}),
		attemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_delivery_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, from sending the request to reading the kept part of the response, by outcome.",
			Buckets: attemptBuckets,
		}, []string{"outcome"}),
		operational: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_operational_attempts_total",
			Help: "Delivery attempts of operational webhooks (also counted in herald_delivery_attempts_total), by outcome.",
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_delivery_failures_total",
			Help: "Failed delivery attempts by class: connect, dns, timeout, tls, ssrf, closed (connection ended before an answer), protocol (not a valid HTTP answer), url, other; or the class of the status answered (3xx, 4xx, 5xx).",
		}, []string{"class"}),
		circuits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_circuit_transitions_total",
			Help: "Endpoint circuits that opened (after consecutive failures) or closed (the endpoint answered again), in this process.",
		}, []string{"to"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_requests_total",
			Help: "API requests by route pattern, method and status code; route is \"unmatched\" for paths that match no route.",
		}, []string{"route", "method", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_api_request_duration_seconds",
			Help:    "Duration of API requests, until the handler returns, by route pattern and method.",
			Buckets: apiBuckets,
		}, []string{"route", "method"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_store_batch_size",
			Help:    "Items per store batch: ingest (messages written in one transaction), claim (deliveries claimed), complete (attempts recorded).",
			Buckets: sizeBuckets,
		}, []string{"kind"}),
		batchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_store_batch_duration_seconds",
			Help:    "Duration of store batches, including the commit, by kind (ingest, claim, complete).",
			Buckets: commitBuckets,
		}, []string{"kind"}),
		batchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_store_batch_errors_total",
			Help: "Store batches that failed, by kind (ingest, claim, complete).",
		}, []string{"kind"}),
		queueDue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_queue_due_deliveries",
			Help: "Deliveries due now and not yet claimed, by queue: first (first attempts), retry (retries and manual resends) or parked (waiting for room at an endpoint whose queue is full or whose circuit is open). Sampled every few seconds.",
		}, []string{"queue"}),
		queueOldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_queue_oldest_due_age_seconds",
			Help: "How long the delivery that has been due longest has waited; 0 when none is due. Sampled every few seconds.",
		}),
		queueErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_queue_sample_errors_total",
			Help: "Failed samples of the delivery queue (the queue gauges then keep their last values).",
		}),
		queueSampled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_queue_last_sample_timestamp_seconds",
			Help: "Unix time of the last successful sample of the delivery queue.",
		}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "herald_build_info",
		Help:        "Always 1; labels carry the Herald version, the commit it was built from and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	m.reg.MustRegister(
		m.attempts, m.attemptDuration, m.operational, m.failures, m.circuits, m.apiRequests, m.apiDuration,
		m.batchSize, m.batchDuration, m.batchErrors,
		m.queueDue, m.queueOldestAge, m.queueErrors, m.queueSampled,
		buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Every series of a fixed label set exists from the start, at zero,
	// so that rates and alerts work before the first event.
	for _, o := range outcomes {
		m.attempts.WithLabelValues(o)
		m.attemptDuration.WithLabelValues(o)
		m.operational.WithLabelValues(o)
	}
	for _, c := range failureClasses {
		m.failures.WithLabelValues(c)
	}
	m.circuits.WithLabelValues("open")
	m.circuits.WithLabelValues("closed")
	for _, k := range batchKinds {
		m.batchSize.WithLabelValues(k)
		m.batchDuration.WithLabelValues(k)
		m.batchErrors.WithLabelValues(k)
	}
	m.queueDue.WithLabelValues("first")
	m.queueDue.WithLabelValues("retry")
	m.queueDue.WithLabelValues("parked")
	return m
}

// Registry is the registry the metrics are in, for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg, // counts its own errors
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Attempt counts a delivery attempt (delivery.Observer).
func (m *Metrics) Attempt(outcome string, d time.Duration, operational bool) {
	outcome = oneOf(outcome, outcomes)
	m.attempts.WithLabelValues(outcome).Inc()
	m.attemptDuration.WithLabelValues(outcome).Observe(d.Seconds())
	if operational {
		m.operational.WithLabelValues(outcome).Inc()
	}
}

// Failure counts a failed attempt by class (delivery.Observer).
func (m *Metrics) Failure(class string) {
	m.failures.WithLabelValues(oneOf(class, failureClasses)).Inc()
}

// Circuit counts an endpoint's circuit opening or closing
// (delivery.Observer).
func (m *Metrics) Circuit(open bool) {
	to := "closed"
	if open {
		to = "open"
	}
	m.circuits.WithLabelValues(to).Inc()
}

// Batch records a store batch of size items that took d (delivery.Observer).
func (m *Metrics) Batch(kind string, size int, d time.Duration, err error) {
	kind = oneOf(kind, batchKinds)
	m.batchSize.WithLabelValues(kind).Observe(float64(size))
	m.batchDuration.WithLabelValues(kind).Observe(d.Seconds())
	if err != nil {
		m.batchErrors.WithLabelValues(kind).Inc()
	}
}

// APIRequest records an API request (api.Options.Observe). route is the
// pattern the request matched, or empty when it matched none.
func (m *Metrics) APIRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	method = oneOf(method, methods)
	m.apiRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.apiDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// WatchDelivery adds gauges read at each scrape from the delivery engine:
// load returns the jobs held in memory waiting to be sent and the requests
// in flight, open the endpoints whose circuit is open.
func (m *Metrics) WatchDelivery(load func() (queued, inFlight int), open func() int) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_circuits_open",
			Help: "Endpoints whose circuit is open in this process: no attempts but probes, their deliveries waiting.",
		}, func() float64 { return float64(open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_delivery_in_flight_requests",
			Help: "Delivery requests in flight in this process.",
		}, func() float64 { _, n := load(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_delivery_queued_jobs",
			Help: "Deliveries claimed by this process and waiting in memory for an endpoint slot or its throttle.",
		}, func() float64 { n, _ := load(); return float64(n) }),
	)
}

// WatchListenFailures adds a counter read at each scrape: failures returns
// how many times the store's connection listening for due deliveries
// failed (store.Cluster.ListenFailures).
func (m *Metrics) WatchListenFailures(failures func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "herald_store_listen_failures_total",
		Help: "Failures of the connection on which this replica listens for deliveries made due by the others (lost, or not made), once per failure however many reconnection attempts it took; the replica polls meanwhile.",
	}, func() float64 { return float64(failures()) }))
}

// oneOf returns v when it is in set, and "other" otherwise, so that no
// unexpected value can add series.
func oneOf(v string, set []string) string {
	for _, s := range set {
		if v == s {
			return v
		}
	}
	return "other"
}

// Snapshot is the current value of the metrics a live overview shows.
type Snapshot struct {
	// Attempts is herald_delivery_attempts_total by outcome.
	Attempts map[string]float64
	// DueFirst, DueRetry and DueParked are herald_queue_due_deliveries,
	// and OldestDueAge herald_queue_oldest_due_age_seconds.
	DueFirst, DueRetry, DueParked float64
	OldestDueAge                  time.Duration
}

// Snapshot reads the values /metrics would serve now.
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{Attempts: make(map[string]float64, len(outcomes))}
	for _, o := range outcomes {
		s.Attempts[o] = value(m.attempts.WithLabelValues(o))
	}
	s.DueFirst = value(m.queueDue.WithLabelValues("first"))
	s.DueRetry = value(m.queueDue.WithLabelValues("retry"))
	s.DueParked = value(m.queueDue.WithLabelValues("parked"))
	s.OldestDueAge = time.Duration(value(m.queueOldestAge) * float64(time.Second))
	return s
}

// value reads a counter or a gauge.
func value(c prometheus.Metric) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	return 0
}
