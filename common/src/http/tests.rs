//! Tests of the cancellable HTTP client against real local servers.
