"""gitllm.infer: what training, evaluation and play share below them: answer generation (`generate`) and the
frozen-encoder feature cache (`features`). It imports only gitllm.data and gitllm.model.

    from gitllm.infer.generate import GenerationSettings, generate_answers
    from gitllm.infer.features import sample_features
"""
