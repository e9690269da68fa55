"""Generator labels -> system keys (for hold-out) and generator families (for reporting).

The shared manifest names one system several ways ("EnCodec-1.5k", "EnCodec@3kbps", "EnCodec(RVQ1-8)",
"Bark(EnCodec decoder)" ...). Holding out "whole generators" is only meaningful if those collapse to one key,
so a held-out system never has a sibling spelling in training. Unknown labels fall back to a normalised string,
which is what users' own corpora (ASVspoof "A07", folder names) get.
"""
from __future__ import annotations

import re

# (regex on the lower-cased generator label, system key). First match wins: order matters.
_SYSTEM_RULES: list[tuple[str, str]] = [
    (r'edit\(partial\)', 'partial-edit'),
    (r'^espnet', 'espnet-tts'),
    (r'bark', 'bark'),
    (r'vocos', 'vocos'),
    (r'encodec', 'encodec'),
    (r'bigcodec', 'bigcodec'),
    (r'^dac', 'dac'),
    (r'tf-codec', 'tf-codec'),
    (r'llm-codec', 'llm-codec'),
    (r'speechtokenizer|uslm|soundstorm', 'speechtokenizer-uslm'),
    (r'vall-?e', 'vall-e'),
    (r'uniaudio', 'uniaudio'),
    (r'voicecraft', 'voicecraft'),
    (r'voicestar', 'voicestar'),
    (r'fluentspeech', 'fluentspeech'),
    (r'voicebox', 'voicebox'),
    (r'flashspeech', 'flashspeech'),
    (r'naturalspeech2', 'naturalspeech2'),
    (r'naturalspeech', 'naturalspeech'),
    (r'clam-tts', 'clam-tts'),
    (r'p-flow', 'p-flow'),
    (r'dddm-vc', 'dddm-vc'),
    (r'maskgct', 'maskgct'),
    (r'f5-tts|e2-tts', 'f5-e2-tts'),
    (r'cosyvoice', 'cosyvoice'),
    (r'fish-?speech', 'fish-speech'),
    (r'indextts', 'indextts'),
    (r'firered', 'fireredtts'),
    (r'spark-tts', 'spark-tts'),
    (r'mars5', 'mars5'),
    (r'metavoice', 'metavoice'),
    (r'elevenlabs', 'elevenlabs'),
    (r'openai', 'openai-tts'),
    (r'azure', 'azure-tts'),
    (r'polly', 'aws-polly'),
    (r'minimax', 'minimax'),
    (r'tortoise', 'tortoise-tts'),
    (r'tacotron2', 'tacotron2'),
    (r'yourtts|sc-glowtts', 'yourtts'),
    (r'universal melgan|fb-melgan|melgan', 'melgan'),
    (r'waveglow', 'waveglow'),
    (r'wavernn', 'wavernn'),
    (r'wavenet', 'wavenet'),
    (r'hifi-?gan', 'hifi-gan'),
    (r'bigvgan', 'bigvgan'),
    (r'istftnet', 'istftnet'),
    (r'flowcpcvc', 'flowcpcvc'),
    (r'fragmentvc', 'fragmentvc'),
    (r'mediumvc', 'mediumvc'),
    (r'vqmivc', 'vqmivc'),
    (r'adain-vc', 'adain-vc'),
    (r'again-vc', 'again-vc'),
    (r'autovc', 'autovc'),
    (r'blow', 'blow'),
    (r'nvc-net', 'nvc-net'),
    (r'lvc-vc', 'lvc-vc'),
]

# system key -> family used in the per-family report.
_FAMILY: dict[str, str] = {
    'partial-edit': 'partial edit',
    'espnet-tts': 'acoustic-model TTS + vocoder/Griffin-Lim',
    'tacotron2': 'acoustic-model TTS + vocoder/Griffin-Lim',
    'yourtts': 'VITS-style end-to-end TTS/VC',
    'naturalspeech': 'VITS-style end-to-end TTS/VC',
    'melgan': 'neural vocoder (mel resynthesis / TTS)',
    'waveglow': 'neural vocoder (mel resynthesis / TTS)',
    'wavernn': 'neural vocoder (mel resynthesis / TTS)',
    'wavenet': 'neural vocoder (mel resynthesis / TTS)',
    'hifi-gan': 'neural vocoder (mel resynthesis / TTS)',
    'bigvgan': 'neural vocoder (mel resynthesis / TTS)',
    'istftnet': 'neural vocoder (mel resynthesis / TTS)',
    'vocos': 'neural codec resynthesis',
    'encodec': 'neural codec resynthesis',
    'bigcodec': 'neural codec resynthesis',
    'dac': 'neural codec resynthesis',
    'tf-codec': 'neural codec resynthesis',
    'llm-codec': 'neural codec resynthesis',
    'speechtokenizer-uslm': 'codec language-model TTS',
    'vall-e': 'codec language-model TTS',
    'uniaudio': 'codec language-model TTS',
    'voicecraft': 'codec language-model TTS',
    'voicestar': 'codec language-model TTS',
    'bark': 'codec language-model TTS',
    'clam-tts': 'codec language-model TTS',
    'mars5': 'codec language-model TTS',
    'metavoice': 'codec language-model TTS',
    'tortoise-tts': 'codec language-model TTS',
    'fish-speech': 'codec language-model TTS',
    'indextts': 'codec language-model TTS',
    'fireredtts': 'codec language-model TTS',
    'cosyvoice': 'codec language-model TTS',
    'spark-tts': 'codec language-model TTS',
    'maskgct': 'codec language-model TTS',
    'fluentspeech': 'diffusion / flow-matching TTS',
    'voicebox': 'diffusion / flow-matching TTS',
    'flashspeech': 'diffusion / flow-matching TTS',
    'naturalspeech2': 'diffusion / flow-matching TTS',
    'p-flow': 'diffusion / flow-matching TTS',
    'f5-e2-tts': 'diffusion / flow-matching TTS',
    'dddm-vc': 'voice conversion',
    'flowcpcvc': 'voice conversion',
    'fragmentvc': 'voice conversion',
    'mediumvc': 'voice conversion',
    'vqmivc': 'voice conversion',
    'adain-vc': 'voice conversion',
    'again-vc': 'voice conversion',
    'autovc': 'voice conversion',
    'blow': 'voice conversion',
    'nvc-net': 'voice conversion',
    'lvc-vc': 'voice conversion',
    'elevenlabs': 'commercial TTS',
    'openai-tts': 'commercial TTS',
    'azure-tts': 'commercial TTS',
    'aws-polly': 'commercial TTS',
    'minimax': 'commercial TTS',
}


def system_key(generator: str) -> str:
    """Collapse spellings of one system to one key ('' for genuine)."""
    g = generator.strip().lower()
    if not g:
        return ''
    for pattern, key in _SYSTEM_RULES:
        if re.search(pattern, g):
            return key
    g = re.sub(r'\(.*?\)', '', g)
    g = re.sub(r'[@_ -]*\d+(\.\d+)?k(bps)?$', '', g)
    return re.sub(r'[^a-z0-9]+', '-', g).strip('-') or 'unknown'


def family(generator: str) -> str:
    """Generator family for reporting ('genuine' for genuine rows, 'other' for unknown systems)."""
    key = system_key(generator)
    if not key:
        return 'genuine'
    return _FAMILY.get(key, 'other')


def is_partial_edit(generator: str) -> bool:
    return system_key(generator) == 'partial-edit'
