"""The veil node: DICOM receiver, durable spool, state store, senders and return path.

Entry points: `veil serve` (`veil.node.service.Node`) and `veil node status|retry`.
"""
