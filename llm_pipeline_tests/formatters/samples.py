"""Sample rows, one per SFT source kind, copied in shape (field names, quirks) from the real datasets."""

GLAIVE_SYSTEM = (
    "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
    '{\n    "name": "get_exchange_rate",\n    "description": "Get the exchange rate between two currencies",\n'
    '    "parameters": {\n        "type": "object",\n        "properties": {\n'
    '            "base_currency": {"type": "string"},\n            "target_currency": {"type": "string"}\n'
    '        },\n        "required": ["base_currency", "target_currency"]\n    }\n}\n'
)
# glaive writes the arguments as a single-quoted JSON string: the call object itself is not JSON.
GLAIVE_CHAT = (
    "USER: Hi, I need to know the exchange rate from USD to EUR.\n\n\n"
    "ASSISTANT: <functioncall> {\"name\": \"get_exchange_rate\", \"arguments\": "
    "'{\"base_currency\": \"USD\", \"target_currency\": \"EUR\"}'} <|endoftext|>\n\n\n"
    "FUNCTION RESPONSE: {\"exchange_rate\": 0.85}\n\n\n"
    "ASSISTANT: The current exchange rate from USD to EUR is 0.85. <|endoftext|>\n\n\n"
    "USER: Thanks! That's all.\n\n\n"
    "ASSISTANT: You're welcome! <|endoftext|>\n"
)

HERMES_SYSTEM = (
    "You are a function calling AI model. You are provided with function signatures within <tools></tools> "
    "XML tags. <tools>\n[{'type': 'function', 'function': {'name': 'get_stock_price', 'description': "
    "'Get the current stock price', 'parameters': {'type': 'object', 'properties': {'symbol': {'type': "
    "'string'}}, 'required': ['symbol']}}}]\n</tools>\nFor each function call return a json object with "
    "function name and arguments within <tool_call></tool_call> tags."
)

SAMPLES = {
    "gsm8k": {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
                    "May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
                  "altogether in April and May.\n#### 72",
    },
    "orca-math": {
        "question": "Jungkook is the 5th place. Find the number of people who crossed the finish line faster "
                    "than Jungkook.",
        "answer": "If Jungkook is in 5th place, then 4 people crossed the finish line faster than him.",
    },
    "metamath": {
        "type": "GSM_Rephrased",
        "query": "If Natalia sold 48 clips in April and half as many in May, how many clips did she sell?",
        "original_question": "Natalia sold clips to 48 of her friends in April...",
        "response": "In May she sold 48/2 = 24 clips.\nIn total she sold 48 + 24 = 72 clips.\n"
                    "The answer is: 72",
    },
    "mathinstruct": {
        "source": "data/CoT/aqua_rat.json",
        "instruction": "The average of 5 numbers is 6. What is their sum? Answer Choices: (A) 25 (B) 30 (C) 35",
        "output": "Sum = average x count = 6 x 5 = 30.\nThe answer is B",
    },
    "cot-collection": {
        "source": "Is the following sentence plausible? \"Joao Moutinho caught the screen pass.\"",
        "target": "no",
        "rationale": "Joao Moutinho is a soccer player. A screen pass is part of American football.",
        "task": "bigbench_sports_understanding",
        "type": "CoT",
    },
    "logiqa": {
        "context": "Some Cantonese don't like chili, so some southerners don't like chili.",
        "query": "Which of the following can guarantee the above argument?",
        "options": ["Some Cantonese love chili.", "Some people who like peppers are southerners.",
                    "All Cantonese are southerners.", "Some Cantonese like neither peppers nor sweets."],
        "correct_option": 2,
    },
    "arc": {
        "id": "Mercury_SC_415702",
        "question": "George wants to warm his hands quickly by rubbing them. Which skin surface will produce "
                    "the most heat?",
        "choices": {"text": ["dry palms", "wet palms", "palms covered with oil", "palms covered with lotion"],
                    "label": ["A", "B", "C", "D"]},
        "answerKey": "A",
    },
    "glaive": {"system": GLAIVE_SYSTEM, "chat": GLAIVE_CHAT},
    "hermes": {
        "id": "0b1f4a8e-4b5c",
        "conversations": [
            {"from": "system", "value": HERMES_SYSTEM},
            {"from": "human", "value": "What are the current stock prices of Apple and Microsoft?"},
            {"from": "gpt", "value": "<tool_call>\n{'arguments': {'symbol': 'AAPL'}, 'name': 'get_stock_price'}\n"
                                     "</tool_call>\n<tool_call>\n{\"arguments\": {\"symbol\": \"MSFT\"}, "
                                     "\"name\": \"get_stock_price\"}\n</tool_call>"},
            {"from": "tool", "value": "<tool_response>\n{'name': 'get_stock_price', 'content': {'price': 150.75}}\n"
                                      "</tool_response>\n<tool_response>\n{'name': 'get_stock_price', "
                                      "'content': {'price': 295.4}}\n</tool_response>"},
            {"from": "gpt", "value": "Apple (AAPL) trades at $150.75 and Microsoft (MSFT) at $295.40."},
        ],
        "category": "Finance",
        "subcategory": "Stock Market",
        "task": "Get stock prices",
    },
    "gorilla": {
        "id": "simple_0",
        "question": [[{"role": "user", "content": "Find the area of a triangle with a base of 10 units and "
                                                  "height of 5 units."}]],
        "function": [{"name": "calculate_triangle_area", "description": "Calculate the area of a triangle.",
                      "parameters": {"type": "dict", "properties": {"base": {"type": "integer"},
                                                                    "height": {"type": "integer"},
                                                                    "unit": {"type": "string"}},
                                     "required": ["base", "height"]}}],
        "answer": "calculate_triangle_area(base=10, height=5, unit='units')",
    },
    "toolbench": {
        "conversations": [
            {"from": "system", "value": "You are AutoGPT, you can use many tools(functions) to do the "
                                        "following task."},
            {"from": "user", "value": "I'm planning a trip to Oslo. What's the weather there?\nBegin!\n"},
            {"from": "assistant", "value": "\nThought: I should call the weather API for Oslo.\n"
                                           "Action: current_weather_for_weatherapi\nAction Input: {\n  \"q\": \"Oslo\"\n}"},
            {"from": "function", "value": "{\"error\": \"\", \"response\": \"{'current': {'temp_c': 4.0}}\"}"},
            {"from": "assistant", "value": "\nThought: I have the weather.\nAction: Finish\nAction Input: {\n"
                                           "  \"return_type\": \"give_answer\",\n"
                                           "  \"final_answer\": \"It is 4 degrees Celsius in Oslo right now.\"\n}"},
        ],
    },
    "alpaca": {
        "instruction": "Identify the odd one out.",
        "input": "Twitter, Instagram, Telegram",
        "output": "Telegram is a messaging app; the others are social networks.",
    },
    "dolly": {
        "instruction": "When did Virgin Australia start operating?",
        "context": "Virgin Australia, the trading name of Virgin Australia Airlines Pty Ltd, is an Australian-"
                   "based airline. It commenced services on 31 August 2000 as Virgin Blue.",
        "response": "Virgin Australia commenced services on 31 August 2000 as Virgin Blue.",
        "category": "closed_qa",
    },
    "openorca": {
        "id": "niv.242684",
        "system_prompt": "You are an AI assistant. You will be given a task. You must generate a detailed "
                         "and long answer.",
        "question": "Translate \"good morning\" into French.",
        "response": "\"Good morning\" in French is \"bonjour\".",
    },
    "oasst": {
        "instruction": "Can you explain what a monad is in simple terms?",
        "response": "A monad is a design pattern for chaining computations that carry extra context.",
    },
}
