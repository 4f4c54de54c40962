"""Argo CD objects (Applications, ApplicationSets, AppProjects, cluster Secrets) turned
into a fleet config, with a comment for everything that could not be carried over.

Pure conversion: :func:`convert` takes parsed objects and returns a commented YAML
document and the credential files to write; ``fleet import argocd`` (fleet.cli
.import_argocd) reads and writes the files.
"""

from fleet.config.argocd.clusters import CredentialFile
from fleet.config.argocd.convert import ArgoObject, ImportResult, convert
from fleet.config.argocd.entries import ArgoImportError

__all__ = ["ArgoImportError", "ArgoObject", "CredentialFile", "ImportResult", "convert"]
