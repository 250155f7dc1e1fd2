#include "api/openapi_document.h"

namespace sbx::api {

// Written by hand; tests/api/openapi_document_test.cpp checks that it parses and covers
// every route the server serves.
std::string_view openapi_document() {
  static constexpr std::string_view kDocument = R"openapi({
 "openapi": "3.1.0",
 "info": {
  "title": "sandboxd lifecycle API",
  "version": "0.1.0",
  "description": "sandboxd speaks the OpenSandbox lifecycle API (every OpenSandbox SDK works against it unchanged), keeps every lifecycle transition in a durable event log, and answers reads from memory.\n\nEvery route is served both at `/` and under `/v1` (`/health` only at the root). Every answer carries `X-Request-ID` (yours, trimmed, or a generated UUID); it is recorded on the events the request causes. Fields without a value are omitted, never null. Timestamps are RFC 3339 UTC with microseconds.\n\nAdditions to the upstream API: `Idempotency-Key` on create, `Prefer: respond-async`, `GET /v1/sandboxes/{sandboxId}/events`, `GET /v1/events` (server-sent events), `GET /metrics`, and this document."
 },
 "servers": [
  {
   "url": "/v1",
   "description": "Versioned prefix"
  },
  {
   "url": "/",
   "description": "Unprefixed (same routes)"
  }
 ],
 "security": [
  {
   "apiKeyAuth": []
  }
 ],
 "tags": [
  {
   "name": "Sandboxes"
  },
  {
   "name": "Events",
   "description": "The audit log over HTTP (our addition)"
  },
  {
   "name": "Operations"
  }
 ],
 "paths": {
  "/sandboxes": {
   "get": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "listSandboxes",
    "summary": "List sandboxes",
    "description": "Live sandboxes (not Terminated, not deleted), newest first (createdAt descending). Filters combine with AND; repeated `state` values combine with OR and match case-insensitively.",
    "parameters": [
     {
      "name": "state",
      "in": "query",
      "description": "Lifecycle state; repeat for OR (`?state=Running&state=Paused`).",
      "schema": {
       "type": "array",
       "items": {
        "$ref": "#/components/schemas/SandboxState"
       }
      },
      "style": "form",
      "explode": true
     },
     {
      "name": "metadata",
      "in": "query",
      "description": "URL-encoded `k=v&k2=v2` (AND, exact match), e.g. `metadata=team%3Dml%26env%3Dprod`. A malformed value is 400 `SANDBOX::INVALID_METADATA_FORMAT`.",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "page",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "default": 1
      }
     },
     {
      "name": "pageSize",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 200,
       "default": 20
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page of sandboxes",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ListSandboxesResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "422": {
      "$ref": "#/components/responses/ValidationError"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     }
    }
   },
   "post": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "createSandbox",
    "summary": "Create a sandbox",
    "description": "Records the request durably (event `SandboxRequested`) and allocates the sandbox id and, in Docker bridge mode, the host ports of container ports 44772 and 8080, so endpoints resolve at once even while the sandbox is `Pending`. By default the answer waits up to `server.create_wait_ms` (30 s) for the outcome and reports the state reached; with `Prefer: respond-async` it answers as soon as the request is durable (state `Pending`). Provisioning continues in the background either way.\n\nIn Docker host network mode only one live sandbox can exist at a time: a second create is 409 `SANDBOX::HOST_NETWORK_BUSY`.",
    "parameters": [
     {
      "$ref": "#/components/parameters/Prefer"
     },
     {
      "$ref": "#/components/parameters/IdempotencyKey"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateSandboxRequest"
       },
       "examples": {
        "image": {
         "summary": "From an image",
         "value": {
          "image": {
           "uri": "python:3.11"
          },
          "entrypoint": [
           "python",
           "/app/main.py"
          ],
          "timeout": 3600,
          "resourceLimits": {
           "cpu": "500m",
           "memory": "512Mi"
          },
          "metadata": {
           "team": "ml"
          }
         }
        },
        "manual-cleanup": {
         "summary": "No expiry (manual cleanup)",
         "value": {
          "image": {
           "uri": "python:3.11"
          },
          "entrypoint": [
           "sleep",
           "infinity"
          ],
          "resourceLimits": {
           "cpu": "1",
           "memory": "1Gi"
          }
         }
        }
       }
      }
     }
    },
    "responses": {
     "202": {
      "description": "Accepted: the sandbox and the state it reached",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Location": {
        "description": "/v1/sandboxes/{id}",
        "schema": {
         "type": "string"
        }
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/CreateSandboxResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "415": {
      "$ref": "#/components/responses/UnsupportedMediaType"
     },
     "422": {
      "$ref": "#/components/responses/ValidationError"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     },
     "503": {
      "$ref": "#/components/responses/ServiceUnavailable"
     }
    }
   }
  },
  "/sandboxes/{sandboxId}": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SandboxId"
    }
   ],
   "get": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "getSandbox",
    "summary": "Fetch a sandbox",
    "description": "Served from the in-memory projection. Terminated and deleted sandboxes are 404 (their history stays available at `/v1/sandboxes/{sandboxId}/events`).",
    "responses": {
     "200": {
      "description": "The sandbox",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Sandbox"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     }
    }
   },
   "delete": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "deleteSandbox",
    "summary": "Delete a sandbox",
    "description": "Records `DeletionRequested` (Pending/Running/Paused → Stopping → Terminated; a Failed sandbox is removed from listings). Waits up to `server.transition_wait_ms` (10 s) for the sandbox to stop unless `Prefer: respond-async`; afterwards GET answers 404.",
    "parameters": [
     {
      "$ref": "#/components/parameters/Prefer"
     }
    ],
    "responses": {
     "204": {
      "description": "Deleted (or deletion in progress)",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     },
     "503": {
      "$ref": "#/components/responses/ServiceUnavailable"
     }
    }
   }
  },
  "/sandboxes/{sandboxId}/metadata": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SandboxId"
    }
   ],
   "patch": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "patchSandboxMetadata",
    "summary": "Patch metadata (RFC 7396)",
    "description": "`\"k\": \"v\"` sets, `\"k\": null` removes, absent keys stay; `{}` is a no-op. Keys and values follow the Kubernetes label rules; the `opensandbox.io/` prefix is reserved (400 `SANDBOX::INVALID_METADATA_LABEL`).",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/PatchSandboxMetadataRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "The sandbox with its new metadata",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Sandbox"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "415": {
      "$ref": "#/components/responses/UnsupportedMediaType"
     },
     "422": {
      "$ref": "#/components/responses/ValidationError"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     }
    }
   }
  },
  "/sandboxes/{sandboxId}/pause": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SandboxId"
    }
   ],
   "post": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "pauseSandbox",
    "summary": "Pause a sandbox",
    "description": "Only from `Running` (else 409 `DOCKER::SANDBOX_NOT_RUNNING`). Records the request (`Pausing`) and waits up to `server.transition_wait_ms` for `Paused` unless `Prefer: respond-async`.",
    "parameters": [
     {
      "$ref": "#/components/parameters/Prefer"
     }
    ],
    "responses": {
     "202": {
      "description": "Accepted",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     },
     "503": {
      "$ref": "#/components/responses/ServiceUnavailable"
     }
    }
   }
  },
  "/sandboxes/{sandboxId}/resume": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SandboxId"
    }
   ],
   "post": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "resumeSandbox",
    "summary": "Resume a sandbox",
    "description": "Only from `Paused` (else 409 `DOCKER::SANDBOX_NOT_PAUSED`). Records the request (`Resuming`) and waits up to `server.transition_wait_ms` for `Running` unless `Prefer: respond-async`.",
    "parameters": [
     {
      "$ref": "#/components/parameters/Prefer"
     }
    ],
    "responses": {
     "202": {
      "description": "Accepted",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     },
     "503": {
      "$ref": "#/components/responses/ServiceUnavailable"
     }
    }
   }
  },
  "/sandboxes/{sandboxId}/renew-expiration": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SandboxId"
    }
   ],
   "post": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "renewSandboxExpiration",
    "summary": "Renew the expiration",
    "description": "The new absolute expiry must be in the future (400 `DOCKER::INVALID_EXPIRATION`). A sandbox created without a timeout (manual cleanup) cannot be renewed (409 `DOCKER::INVALID_EXPIRATION`). Renewals are durable: they survive restarts.",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/RenewSandboxExpirationRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "The new expiry",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RenewSandboxExpirationResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "415": {
      "$ref": "#/components/responses/UnsupportedMediaType"
     },
     "422": {
      "$ref": "#/components/responses/ValidationError"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     }
    }
   }
  },
  "/sandboxes/{sandboxId}/endpoints/{port}": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SandboxId"
    }
   ],
   "get": {
    "tags": [
     "Sandboxes"
    ],
    "operationId": "getSandboxEndpoint",
    "summary": "Endpoint of a sandbox port",
    "description": "Computed from the projection (no runtime round trip), so it answers while the sandbox is still Pending. No scheme. Docker host networking: `{host}:{port}`; bridge, port 8080: `{host}:{hostPort(8080)}`; bridge, any other port: `{host}:{hostPort(44772)}/proxy/{port}` (execd forwards it). `{host}` is `server.eip`, else `docker.host_ip`, else the bind address when not a wildcard, else the primary host address.",
    "parameters": [
     {
      "name": "port",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 65535
      }
     },
     {
      "name": "use_server_proxy",
      "in": "query",
      "description": "Accepted for compatibility; endpoints are always direct.",
      "schema": {
       "type": "boolean",
       "default": false
      }
     }
    ],
    "responses": {
     "200": {
      "description": "The endpoint",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Endpoint"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     }
    }
   }
  },
  "/sandboxes/{sandboxId}/events": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SandboxId"
    }
   ],
   "get": {
    "tags": [
     "Events"
    ],
    "operationId": "getSandboxEvents",
    "summary": "History of a sandbox",
    "description": "Every event of the sandbox's stream, oldest first, also after it was deleted. Env values are redacted (`spec.env` shows each key with the value `***`). Registry credentials are never stored in the log: `spec.imageAuth` is `{\"provided\": true}` when `image.auth` was given.",
    "responses": {
     "200": {
      "description": "The sandbox's events",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SandboxHistory"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     }
    }
   }
  },
  "/events": {
   "get": {
    "tags": [
     "Events"
    ],
    "operationId": "watchEvents",
    "summary": "Watch the global event log (server-sent events)",
    "description": "A `text/event-stream` of every event after `since` (or the `Last-Event-ID` header; without either, only new events). Each event is a frame `id: <position>` / `data: <event JSON>` (env values redacted as in the history); comment lines (`: keep-alive`) are sent every 15 s. Resume after a disconnect with `since=<last id>`. A position older than the oldest retained event is 410.",
    "parameters": [
     {
      "name": "since",
      "in": "query",
      "description": "Stream events with a position greater than this.",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "Last-Event-ID",
      "in": "header",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     }
    ],
    "responses": {
     "200": {
      "description": "The event stream",
      "headers": {
       "X-Request-ID": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "text/event-stream": {
        "schema": {
         "type": "string",
         "description": "SSE frames"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "410": {
      "$ref": "#/components/responses/Gone"
     },
     "422": {
      "$ref": "#/components/responses/ValidationError"
     },
     "500": {
      "$ref": "#/components/responses/InternalServerError"
     }
    }
   }
  },
  "/health": {
   "get": {
    "tags": [
     "Operations"
    ],
    "operationId": "health",
    "summary": "Health",
    "description": "Served at the root only, without authentication. `status` is always `healthy` while the process serves; details tell whether the runtime is reachable and where the log is.",
    "security": [],
    "responses": {
     "200": {
      "description": "Healthy",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Health"
        }
       }
      }
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "tags": [
     "Operations"
    ],
    "operationId": "metrics",
    "summary": "Prometheus metrics",
    "description": "Text exposition format 0.0.4. Needs the API key only when `server.metrics_auth = true`.",
    "responses": {
     "200": {
      "description": "Metrics",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "tags": [
     "Operations"
    ],
    "operationId": "openapi",
    "summary": "This document",
    "security": [],
    "responses": {
     "200": {
      "description": "OpenAPI 3 document",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     }
    }
   }
  },
  "/docs": {
   "get": {
    "tags": [
     "Operations"
    ],
    "operationId": "swaggerUi",
    "summary": "Swagger UI",
    "security": [],
    "responses": {
     "200": {
      "description": "HTML page",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/redoc": {
   "get": {
    "tags": [
     "Operations"
    ],
    "operationId": "redoc",
    "summary": "ReDoc",
    "security": [],
    "responses": {
     "200": {
      "description": "HTML page",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  }
 },
 "components": {
  "securitySchemes": {
   "apiKeyAuth": {
    "type": "apiKey",
    "in": "header",
    "name": "OPEN-SANDBOX-API-KEY",
    "description": "Checked only when `server.api_key` is set (env OPENSANDBOX_SERVER_API_KEY overrides). Not needed for /health, /docs, /redoc, /openapi.json, nor /metrics unless `server.metrics_auth`."
   }
  },
  "parameters": {
   "SandboxId": {
    "name": "sandboxId",
    "in": "path",
    "required": true,
    "schema": {
     "type": "string",
     "format": "uuid"
    }
   },
   "Prefer": {
    "name": "Prefer",
    "in": "header",
    "description": "`respond-async`: answer as soon as the request is durably recorded instead of waiting for the outcome.",
    "schema": {
     "type": "string",
     "example": "respond-async"
    }
   },
   "IdempotencyKey": {
    "name": "Idempotency-Key",
    "in": "header",
    "description": "The same key within 24 h returns the same sandbox (and status code) instead of creating another; remembered across restarts. At most 255 characters.",
    "schema": {
     "type": "string",
     "maxLength": 255
    }
   }
  },
  "headers": {
   "XRequestId": {
    "description": "Request id (echoed or generated)",
    "schema": {
     "type": "string"
    }
   }
  },
  "responses": {
   "BadRequest": {
    "description": "Malformed JSON, or a value refused (resource quantities, metadata labels `SANDBOX::INVALID_METADATA_LABEL`, list filter `SANDBOX::INVALID_METADATA_FORMAT`, port `DOCKER::INVALID_PORT`, expiry `DOCKER::INVALID_EXPIRATION`, volumes `VOLUME::…`, timeout above the cap, renewal beyond `server.max_sandbox_timeout_seconds`, an image reference outside the Docker grammar, NUL bytes in strings, JSON nesting deeper than 64, networkPolicy without bridge mode/egress image, secureAccess).",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "SANDBOX::INVALID_PARAMETER",
       "message": "…"
      }
     }
    }
   },
   "Unauthorized": {
    "description": "Missing or wrong OPEN-SANDBOX-API-KEY (`MISSING_API_KEY`, `INVALID_API_KEY`).",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "MISSING_API_KEY",
       "message": "…"
      }
     }
    }
   },
   "NotFound": {
    "description": "No such (live) sandbox.",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "DOCKER::SANDBOX_NOT_FOUND",
       "message": "…"
      }
     }
    }
   },
   "Conflict": {
    "description": "Not valid in the current state (`DOCKER::SANDBOX_NOT_RUNNING`, `DOCKER::SANDBOX_NOT_PAUSED`, `DOCKER::INVALID_EXPIRATION`, `SANDBOX::INVALID_STATE`), or host network mode already holds a sandbox (`SANDBOX::HOST_NETWORK_BUSY`).",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "DOCKER::SANDBOX_NOT_RUNNING",
       "message": "…"
      }
     }
    }
   },
   "Gone": {
    "description": "The requested event position is older than the oldest retained event.",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "SANDBOX::EVENTS_EXPIRED",
       "message": "…"
      }
     }
    }
   },
   "UnsupportedMediaType": {
    "description": "A request body that is not `Content-Type: application/json` (a cross-site page can send text/plain without a preflight; this server never accepts it).",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "SANDBOX::UNSUPPORTED_MEDIA_TYPE",
       "message": "Content-Type must be application/json, got \"text/plain\""
      }
     }
    }
   },
   "PayloadTooLarge": {
    "description": "The body exceeds `server.max_body_bytes`.",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "SANDBOX::REQUEST_TOO_LARGE",
       "message": "…"
      }
     }
    }
   },
   "ValidationError": {
    "description": "The request does not have the documented shape; `detail` lists every problem.",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "SANDBOX::INVALID_PARAMETER",
       "message": "…"
      }
     }
    }
   },
   "InternalServerError": {
    "description": "Unexpected failure.",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "SANDBOX::UNKNOWN_ERROR",
       "message": "…"
      }
     }
    }
   },
   "ServiceUnavailable": {
    "description": "The runtime is unreachable (`DOCKER::INITIALIZATION_ERROR`), the port range is exhausted (`DOCKER::PORT_RANGE_EXHAUSTED`), or the server is shutting down.",
    "headers": {
     "X-Request-ID": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/ErrorResponse"
      },
      "example": {
       "code": "DOCKER::INITIALIZATION_ERROR",
       "message": "…"
      }
     }
    }
   }
  },
  "schemas": {
   "SandboxState": {
    "type": "string",
    "enum": [
     "Pending",
     "Running",
     "Pausing",
     "Paused",
     "Resuming",
     "Stopping",
     "Terminated",
     "Failed"
    ],
    "description": "Pending → Running; Running → Pausing → Paused; Paused → Resuming → Running; Pending/Running/Paused → Stopping → Terminated; any non-final → Failed. Failed and Terminated are final."
   },
   "SandboxStatus": {
    "type": "object",
    "required": [
     "state"
    ],
    "properties": {
     "state": {
      "$ref": "#/components/schemas/SandboxState"
     },
     "reason": {
      "type": "string",
      "description": "Machine-readable reason of the last transition (e.g. `expired`, `DOCKER::SANDBOX_IMAGE_PULL_FAILED`)."
     },
     "message": {
      "type": "string"
     },
     "lastTransitionAt": {
      "type": "string",
      "format": "date-time"
     }
    }
   },
   "ImageSpec": {
    "type": "object",
    "required": [
     "uri"
    ],
    "properties": {
     "uri": {
      "type": "string",
      "minLength": 1
     },
     "auth": {
      "type": "object",
      "properties": {
       "username": {
        "type": "string"
       },
       "password": {
        "type": "string"
       }
      }
     }
    }
   },
   "PlatformSpec": {
    "type": "object",
    "required": [
     "os",
     "arch"
    ],
    "properties": {
     "os": {
      "type": "string",
      "enum": [
       "linux",
       "windows"
      ]
     },
     "arch": {
      "type": "string",
      "enum": [
       "amd64",
       "arm64"
      ]
     }
    }
   },
   "ResourceLimits": {
    "type": "object",
    "additionalProperties": {
     "type": "string"
    },
    "description": "`cpu` (\"500m\", \"2\", \"0.5\"), `memory` (\"512Mi\", \"2Gi\", \"1G\"), `gpu` (whole devices). Invalid quantities are 400 naming the field.",
    "example": {
     "cpu": "500m",
     "memory": "512Mi"
    }
   },
   "NetworkRule": {
    "type": "object",
    "required": [
     "action",
     "target"
    ],
    "properties": {
     "action": {
      "type": "string",
      "enum": [
       "allow",
       "deny"
      ]
     },
     "target": {
      "type": "string",
      "description": "FQDN or wildcard domain"
     }
    }
   },
   "NetworkPolicy": {
    "type": "object",
    "description": "Egress policy enforced by a sidecar. Accepted only in Docker bridge mode with `egress.image` configured (else 400 naming what is missing).",
    "properties": {
     "defaultAction": {
      "type": "string",
      "enum": [
       "allow",
       "deny"
      ]
     },
     "egress": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/NetworkRule"
      }
     }
    }
   },
   "Volume": {
    "type": "object",
    "required": [
     "name",
     "mountPath"
    ],
    "description": "Exactly one backend (`host`, `pvc`, `ossfs`). Host paths must lie under `storage.allowed_host_paths`.",
    "properties": {
     "name": {
      "type": "string",
      "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
      "maxLength": 63
     },
     "host": {
      "type": "object",
      "required": [
       "path"
      ],
      "properties": {
       "path": {
        "type": "string"
       }
      }
     },
     "pvc": {
      "type": "object",
      "required": [
       "claimName"
      ],
      "properties": {
       "claimName": {
        "type": "string"
       },
       "createIfNotExists": {
        "type": "boolean"
       },
       "deleteOnSandboxTermination": {
        "type": "boolean"
       }
      }
     },
     "ossfs": {
      "type": "object"
     },
     "mountPath": {
      "type": "string",
      "pattern": "^/.*"
     },
     "readOnly": {
      "type": "boolean",
      "default": false
     },
     "subPath": {
      "type": "string"
     }
    }
   },
   "CreateSandboxRequest": {
    "type": "object",
    "required": [
     "resourceLimits"
    ],
    "description": "Exactly one of `image` or `snapshotId`. Unknown fields are ignored.",
    "properties": {
     "image": {
      "$ref": "#/components/schemas/ImageSpec"
     },
     "snapshotId": {
      "type": "string"
     },
     "entrypoint": {
      "type": "array",
      "items": {
       "type": "string"
      },
      "minItems": 1,
      "description": "Required with `image`; defaults to `[\"tail\",\"-f\",\"/dev/null\"]` for snapshots."
     },
     "timeout": {
      "oneOf": [
       {
        "type": "integer",
        "minimum": 60
       },
       {
        "type": "null"
       }
      ],
      "description": "Seconds until automatic expiry; absent or null = manual cleanup (never expires). Above `server.max_sandbox_timeout_seconds` is 400."
     },
     "resourceLimits": {
      "$ref": "#/components/schemas/ResourceLimits"
     },
     "resourceRequests": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      },
      "description": "Accepted and ignored on Docker."
     },
     "env": {
      "type": "object",
      "additionalProperties": {
       "type": [
        "string",
        "null"
       ]
      },
      "description": "Null values are dropped."
     },
     "metadata": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      },
      "description": "Kubernetes label rules; `opensandbox.io/` is reserved."
     },
     "platform": {
      "$ref": "#/components/schemas/PlatformSpec"
     },
     "networkPolicy": {
      "$ref": "#/components/schemas/NetworkPolicy"
     },
     "credentialProxy": {
      "type": "object",
      "properties": {
       "enabled": {
        "type": "boolean",
        "default": false,
        "description": "`true` is not supported (400)."
       }
      }
     },
     "secureAccess": {
      "type": "boolean",
      "default": false,
      "description": "`true` is not supported on Docker (400)."
     },
     "volumes": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Volume"
      }
     },
     "extensions": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      },
      "description": "Opaque; `access.renew.extend.seconds` must be 300..86400."
     }
    }
   },
   "CreateSandboxResponse": {
    "type": "object",
    "required": [
     "id",
     "status",
     "createdAt",
     "entrypoint"
    ],
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "status": {
      "$ref": "#/components/schemas/SandboxStatus"
     },
     "metadata": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     },
     "expiresAt": {
      "type": "string",
      "format": "date-time",
      "description": "Absent for manual cleanup."
     },
     "createdAt": {
      "type": "string",
      "format": "date-time"
     },
     "entrypoint": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "platform": {
      "$ref": "#/components/schemas/PlatformSpec"
     }
    }
   },
   "Sandbox": {
    "type": "object",
    "required": [
     "id",
     "status",
     "createdAt",
     "entrypoint"
    ],
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "image": {
      "type": "object",
      "properties": {
       "uri": {
        "type": "string"
       }
      }
     },
     "snapshotId": {
      "type": "string"
     },
     "status": {
      "$ref": "#/components/schemas/SandboxStatus"
     },
     "metadata": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     },
     "entrypoint": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "expiresAt": {
      "type": "string",
      "format": "date-time"
     },
     "createdAt": {
      "type": "string",
      "format": "date-time"
     },
     "platform": {
      "$ref": "#/components/schemas/PlatformSpec"
     }
    }
   },
   "PaginationInfo": {
    "type": "object",
    "required": [
     "page",
     "pageSize",
     "totalItems",
     "totalPages",
     "hasNextPage"
    ],
    "properties": {
     "page": {
      "type": "integer",
      "minimum": 1
     },
     "pageSize": {
      "type": "integer",
      "minimum": 1
     },
     "totalItems": {
      "type": "integer",
      "minimum": 0
     },
     "totalPages": {
      "type": "integer",
      "minimum": 0
     },
     "hasNextPage": {
      "type": "boolean"
     }
    }
   },
   "ListSandboxesResponse": {
    "type": "object",
    "required": [
     "items",
     "pagination"
    ],
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Sandbox"
      }
     },
     "pagination": {
      "$ref": "#/components/schemas/PaginationInfo"
     }
    }
   },
   "PatchSandboxMetadataRequest": {
    "type": "object",
    "additionalProperties": {
     "type": [
      "string",
      "null"
     ]
    },
    "example": {
     "project": "new-project",
     "team": null
    }
   },
   "RenewSandboxExpirationRequest": {
    "type": "object",
    "required": [
     "expiresAt"
    ],
    "properties": {
     "expiresAt": {
      "type": "string",
      "format": "date-time"
     }
    }
   },
   "RenewSandboxExpirationResponse": {
    "type": "object",
    "required": [
     "expiresAt"
    ],
    "properties": {
     "expiresAt": {
      "type": "string",
      "format": "date-time"
     }
    }
   },
   "Endpoint": {
    "type": "object",
    "required": [
     "endpoint"
    ],
    "properties": {
     "endpoint": {
      "type": "string",
      "description": "host:port[/path], no scheme",
      "example": "10.0.0.5:40001/proxy/18080"
     },
     "headers": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     }
    }
   },
   "Event": {
    "type": "object",
    "description": "The envelope of one stored event.",
    "required": [
     "position",
     "stream",
     "version",
     "type",
     "schema",
     "time",
     "eventId",
     "reason",
     "data"
    ],
    "properties": {
     "position": {
      "type": "integer",
      "description": "Global, gap-free, from 1"
     },
     "stream": {
      "type": "string",
      "example": "sandbox-3f2c…"
     },
     "version": {
      "type": "integer",
      "description": "1-based version within the stream"
     },
     "type": {
      "type": "string",
      "enum": [
       "SandboxRequested",
       "ProvisioningStarted",
       "SandboxStarted",
       "ProvisioningFailed",
       "PauseRequested",
       "SandboxPaused",
       "PauseFailed",
       "ResumeRequested",
       "SandboxResumed",
       "ResumeFailed",
       "ExpirationRenewed",
       "MetadataPatched",
       "DeletionRequested",
       "SandboxTerminated",
       "SandboxFailed",
       "ServerStarted",
       "OrphanRemoved",
       "ReconcileFinding",
       "MigrationApplied"
      ]
     },
     "schema": {
      "type": "integer"
     },
     "time": {
      "type": "string",
      "format": "date-time"
     },
     "eventId": {
      "type": "string",
      "format": "uuid"
     },
     "requestId": {
      "type": "string",
      "description": "X-Request-ID of the causing request"
     },
     "actor": {
      "type": "string"
     },
     "reason": {
      "type": "string",
      "enum": [
       "user",
       "expired",
       "reconcile",
       "runtime"
      ]
     },
     "data": {
      "type": "object"
     }
    }
   },
   "SandboxHistory": {
    "type": "object",
    "required": [
     "sandboxId",
     "events"
    ],
    "properties": {
     "sandboxId": {
      "type": "string"
     },
     "events": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Event"
      }
     }
    }
   },
   "Health": {
    "type": "object",
    "description": "With server.api_key set, a caller without the key gets only status; runtime and store details need the key.",
    "required": [
     "status"
    ],
    "properties": {
     "status": {
      "type": "string",
      "enum": [
       "healthy"
      ]
     },
     "runtime": {
      "type": "object",
      "properties": {
       "type": {
        "type": "string"
       },
       "available": {
        "type": "boolean"
       }
      }
     },
     "store": {
      "type": "object",
      "properties": {
       "head": {
        "type": "integer"
       },
       "liveSandboxes": {
        "type": "integer"
       },
       "writable": {
        "type": "boolean",
        "description": "false when the store refused a write (disk full or failing): reads are served, mutations answer 503 SANDBOX::STORAGE_UNAVAILABLE until a restart on a writable disk"
       }
      }
     }
    },
    "additionalProperties": true
   },
   "ValidationIssue": {
    "type": "object",
    "required": [
     "loc",
     "msg"
    ],
    "properties": {
     "loc": {
      "type": "array",
      "items": {
       "oneOf": [
        {
         "type": "string"
        },
        {
         "type": "integer"
        }
       ]
      }
     },
     "msg": {
      "type": "string"
     },
     "type": {
      "type": "string"
     }
    }
   },
   "ErrorResponse": {
    "type": "object",
    "required": [
     "code",
     "message"
    ],
    "properties": {
     "code": {
      "type": "string",
      "description": "`SANDBOX::…`, `DOCKER::…`/`KUBERNETES::…`, `VOLUME::…`, `MISSING_API_KEY`, `INVALID_API_KEY`.",
      "example": "DOCKER::SANDBOX_NOT_FOUND"
     },
     "message": {
      "type": "string"
     },
     "detail": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/ValidationIssue"
      },
      "description": "Request-shape errors (422) only, in FastAPI's shape."
     }
    }
   }
  }
 }
})openapi";
  return kDocument;
}

}  // namespace sbx::api
