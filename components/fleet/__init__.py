"""The load-generator fleet: the component, its Kubernetes manifests and network, the run control."""
