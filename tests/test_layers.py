"""Lower layers never import upper ones: compat/utils <- core <- models, datasets <- apis <- tools.

compat plugs into mmcv the pieces of utils it installs (safe loading, atomic writes), and utils uses
compat's DDP class, so those two sit on one level."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'mmdet_lite'
LEVEL = {'compat': 0, 'utils': 0, 'core': 1, 'models': 2, 'datasets': 2, 'apis': 3}


def _imported_modules(path: Path):
    """Absolute names of the mmdet_lite modules ``path`` imports (relative imports resolved)."""
    package_parts = ['mmdet_lite', *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[:len(package_parts) - node.level + 1]
                yield '.'.join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def test_no_module_imports_a_higher_layer_or_a_sibling_package():
    upward = []
    for path in PACKAGE.rglob('*.py'):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2:
            continue
        importer = parts[0]
        for module in _imported_modules(path):
            names = module.split('.')
            if names[0] != 'mmdet_lite' or len(names) < 2 or names[1] == importer:
                continue
            imported = names[1]
            if imported in LEVEL and LEVEL[imported] >= LEVEL[importer] and \
                    {imported, importer} != {'compat', 'utils'}:
                upward.append(f'{path.relative_to(PACKAGE.parent)} imports {module}')
    assert upward == []
