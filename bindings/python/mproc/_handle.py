"""Deterministic release for the binding's handle-owning classes (private)."""


class Releasable:
    """Mixin: ``with obj:`` releases it at the end of the block, and the
    garbage collector releases it as a fallback. Subclasses define an
    idempotent ``release()``."""

    def release(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass
