"""OPC UA driver (`driver: opcua`): NodeId addresses, subscriptions or polling, security, self-healing."""

from drivers.opcua.certs import ClientCertificate, make_client_certificate
from drivers.opcua.driver import OpcUaDriver

__all__ = ["ClientCertificate", "OpcUaDriver", "make_client_certificate"]
